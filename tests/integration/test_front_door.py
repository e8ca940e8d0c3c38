"""Issue 23, findings 1 and 2: gunicorn bare holds the front door's line (operations.md, "The
front door"): an answer given without reading the whole body closes the connection (gunicorn
never drains the rest), and the header block is capped at 32 KiB in all, answered as JSON 431."""

from __future__ import annotations

import json
import socket
import time

import pytest

VALIDATE = "/posnext/order/validate"


def _head(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Read one answer: its status, headers and body (by Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def _closed_within(sock: socket.socket, seconds: float, keep_sending: bytes = b"") -> bool:
    """Whether the server closes the connection within `seconds` while we go on sending."""
    end = time.monotonic() + seconds
    sock.settimeout(0.05)
    while time.monotonic() < end:
        try:
            if keep_sending:
                sock.sendall(keep_sending)
            if sock.recv(65536) == b"":
                return True
        except (TimeoutError, BlockingIOError):
            continue
        except OSError:  # reset or broken pipe: closed
            return True
    return False


@pytest.mark.parametrize(
    ("name", "request_head"),
    [
        (
            "401 chunked",
            f"POST {VALIDATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
        ),
        (
            "401 by length",
            f"POST {VALIDATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n",
        ),
        ("404 chunked", "POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("405 by length", "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"),
    ],
)
def test_an_answer_without_the_body_closes_the_connection(live, name, request_head):
    """Issue 23, finding 1: before: gunicorn answered, then read and discarded the rest of the body in the same worker
    (finish_body: no deadline, no byte cap), for as long as the client kept sending."""
    chunked = "chunked" in request_head
    flood = b"1\r\n \r\n" * 2000 if chunked else b" " * 12000
    with socket.create_connection(("127.0.0.1", live.web_port), timeout=5) as sock:
        sock.sendall(request_head.encode() + flood)
        status, headers, body = _head(sock)
        assert status in (401, 404, 405), (name, status, body)
        assert headers.get("connection", "").lower() == "close", (name, headers)
        assert json.loads(body)["status"] == "errored"
        assert _closed_within(sock, 2.0, keep_sending=flood), f"{name}: the connection was kept to drain the body"


def test_a_request_whose_body_was_read_keeps_its_connection(live):
    with socket.create_connection(("127.0.0.1", live.web_port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = _head(sock)
        assert status == 200 and headers.get("connection", "").lower() != "close"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _head(sock)[0] == 200


def test_a_header_block_over_32_kib_is_a_json_431(live):
    """Issue 23, finding 2: before: 100 headers of 8,190 bytes passed the app and 200 x 16,380 gunicorn."""
    headers = "".join(f"X-Pad-{i}: {'a' * 1000}\r\n" for i in range(34))  # 34 KB in 34 headers
    with socket.create_connection(("127.0.0.1", live.web_port), timeout=5) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        status, answer_headers, body = _head(sock)
    assert status == 431
    assert "json" in answer_headers.get("content-type", "")
    assert json.loads(body)["errors"][0]["code"] == "header_fields_too_large"


def test_gunicorn_refuses_a_header_block_past_32_kib_before_its_end(live):
    """Issue 23, finding 2: before: gunicorn buffered up to 200 x 16,380 bytes of headers (3 MB), rescanning the buffer
    on every read; now it answers 431 once the block passes 32 KiB, without waiting for its end."""
    with socket.create_connection(("127.0.0.1", live.web_port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for index in range(40):  # 40 KB, and no blank line ending the block
            try:
                sock.sendall(f"X-Pad-{index}: {'a' * 1000}\r\n".encode())
            except OSError:
                break
        status, _headers, body = _head(sock, timeout=3)
    assert status == 431
    assert json.loads(body)["errors"][0]["code"] == "header_fields_too_large"


def test_headers_within_the_cap_reach_the_app(live):
    headers = "".join(f"X-Pad-{i}: {'a' * 1000}\r\n" for i in range(20))  # 20 KB
    with socket.create_connection(("127.0.0.1", live.web_port), timeout=5) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert _head(sock)[0] == 200
