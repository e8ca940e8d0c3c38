"""Reading a request: its head within the app's limits, its body bounded in bytes and in time,
every failure a clear JSON error.

- A URL over MAX_URL_BYTES: 414; too many headers, one too large, or a head over MAX_HEAD_BYTES
  in all: 431 (`check_limits`, before any view runs).

- Over MAX_CONTENT_LENGTH: 413, whether the length was declared or the body is chunked (the
  read stops at the limit + 1 byte; nothing more is buffered).
- A body not sent within BODY_READ_TIMEOUT_SECONDS (a slowly sent body holds a connection
  and a worker slot): 408 and the connection closed. Under gevent (the web process's worker
  class) a gevent.Timeout bounds the whole read; under a threaded worker the socket gets the
  remaining time as its timeout for each receive, and the total is checked between reads.
- A body the server cannot decode (a bad chunk size, a connection closed mid-body): 400,
  never a 500.
- An answer given without reading the whole body (401, 404, 405, 413, 415, 408, ...) closes the
  connection (`close_if_unread`, after every request): the server never reads and discards the
  rest of a body nobody asked for (app/server_request.py says how gunicorn is told).
"""

from __future__ import annotations

import contextlib
import socket
import time

from flask import g, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from app.errors import ApiError

# The app's limits, below gunicorn's (gunicorn.conf.py) so that these answers are the app's JSON.
MAX_URL_BYTES = 4096
MAX_HEADERS = 100
MAX_HEADER_BYTES = 8190
MAX_HEAD_BYTES = 32 * 1024  # the request line and every header, in all (operations.md, "The front door")

BODY_READ_TIMEOUT_SECONDS = 10.0
CHUNK = 64 * 1024

try:  # gunicorn's errors for a broken chunked body (InvalidChunkSize, ChunkMissingTerminator, ...)
    from gunicorn.http.errors import ParseException as _ServerParseError
except ImportError:  # pragma: no cover - gunicorn is a dependency
    _ServerParseError = ValueError


class _ReadTimeout(Exception):
    pass


def _gevent_timeout(seconds: float):
    try:
        import gevent
        import gevent.monkey
    except ImportError:  # pragma: no cover
        return None
    if not gevent.monkey.is_module_patched("socket"):
        return None
    return gevent.Timeout(seconds, _ReadTimeout)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")


def read_body(limit: int, timeout: float = BODY_READ_TIMEOUT_SECONDS) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    stream = request.environ.get("wsgi.input")
    sock = request.environ.get("gunicorn.socket")
    guard = _gevent_timeout(timeout)
    started = time.monotonic()
    chunks, size = [], 0
    try:
        if guard is not None:
            guard.start()
        source = request.stream if stream is None or request.content_length is not None else stream
        while size <= limit:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise _ReadTimeout
            if guard is None and isinstance(sock, socket.socket):
                sock.settimeout(left)
            chunk = source.read(min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (_ReadTimeout, TimeoutError):
        raise ApiError(
            408,
            "request_timeout",
            f"the body was not received within {timeout:g} seconds",
            headers={"Connection": "close"},
        ) from None
    except RequestEntityTooLarge:
        raise too_large(limit) from None
    except (ClientDisconnected, _ServerParseError, OSError, ValueError):
        raise ApiError(
            400, "body_unreadable", "the request body could not be read", headers={"Connection": "close"}
        ) from None
    finally:
        if guard is not None:
            guard.close()
        if guard is None and isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.settimeout(None)
    if size > limit:
        raise too_large(limit)
    g.body_read = True  # read to its end: the connection may serve another request
    return b"".join(chunks)


def has_body(environ: dict) -> bool:
    length = environ.get("CONTENT_LENGTH") or "0"
    return length != "0" or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def close_if_unread(response):
    """After every request: when the request has a body the app did not read to its end, the
    answer closes the connection (gunicorn's force_close, which the body carries when
    app/server_request.py is installed; `Connection: close` for any other server)."""
    if has_body(request.environ) and not g.get("body_read"):
        response.headers["Connection"] = "close"
        close = getattr(request.environ.get("wsgi.input"), "close_connection", None)
        if close is not None:
            close()
    return response


def check_limits() -> None:
    """414 for a long URL, 431 for too many or too large headers (or a head over 32 KiB in all),
    before any view runs."""
    uri = request.environ.get("RAW_URI") or request.full_path
    if len(uri) > MAX_URL_BYTES:
        raise ApiError(414, "uri_too_long", f"the URL is longer than {MAX_URL_BYTES} bytes")
    headers = list(request.headers.items())
    head = len(request.method) + len(uri) + 11 + sum(len(k) + len(v) + 4 for k, v in headers)
    if (
        len(headers) > MAX_HEADERS
        or head > MAX_HEAD_BYTES
        or any(len(k) + len(v) > MAX_HEADER_BYTES for k, v in headers)
    ):
        raise ApiError(
            431,
            "header_fields_too_large",
            f"at most {MAX_HEADERS} headers of at most {MAX_HEADER_BYTES} bytes each, "
            f"{MAX_HEAD_BYTES} bytes in all with the request line",
        )
