"""Small helpers shared by the unit tests: a clock, Redis snapshots, the app and requests to it, local servers."""

from __future__ import annotations

import json
import time

NOW = 1_795_456_800.0  # a fixed Unix time for the clocks of unit tests


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float | None = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def keys(redis_client) -> dict[bytes, object]:
    """Every key with its value, to show that a request changed nothing."""
    out = {}
    for key in sorted(redis_client.keys("*")):
        kind = redis_client.type(key)
        if kind == b"hash":
            out[key] = redis_client.hgetall(key)
        elif kind == b"list":
            out[key] = redis_client.lrange(key, 0, -1)
        elif kind == b"zset":
            out[key] = redis_client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            out[key] = redis_client.smembers(key)
        else:
            out[key] = redis_client.get(key)
    return out


def build_app(redis_client=None, pos=None, tasks=None, **env):
    """The real app on the unit layer's settings with some variables changed (None removes one)."""
    import fakeredis

    from app import create_app
    from app.settings import load_settings
    from tests.conftest import BASE_ENV
    from tests.support.fakes import FakePos, FakeTasks

    values = dict(BASE_ENV)
    for name, value in env.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    app = create_app(
        load_settings(values),
        redis_client=redis_client or fakeredis.FakeRedis(),
        pos=pos or FakePos(),
        tasks=tasks or FakeTasks(),
    )
    app.testing = True
    return app


def send(client, path, body, token=None, digest=True, content_type="application/json", headers=None):
    """POST an order body as PAR would, with each part changeable; returns the response with .body."""
    from app import jsonio, signing
    from tests.conftest import SHARED_ID

    data = body if isinstance(body, bytes) else jsonio.dumps(body).encode()
    sent = {"Content-Type": content_type} if content_type else {}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if digest is True and not isinstance(body, bytes):
        sent["x-pch-digest"] = signing.sign(signing.key_from_shared_id(SHARED_ID), body)
    elif isinstance(digest, str):
        sent["x-pch-digest"] = digest
    sent.update(headers or {})
    response = client.post(path, data=data, headers=sent)
    response.body = jsonio.loads(response.data) if response.data else None
    return response


def broken_redis():
    """A real redis client whose every call fails at once with ConnectionError (nothing listens on port 1)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)


class LocalServer:
    """A tiny HTTP/1.1 server on a free loopback port, answering from a function the test sets.

    `answer(method, path, headers, body)` returns (status, body) or (status, body, delay_seconds);
    status None closes the connection without an answer (a reset). Every request is kept in .seen.
    """

    def __init__(self, answer=None):
        import http.server
        import threading

        self.answer = answer or (lambda method, path, headers, body: (200, b"{}"))
        self.seen: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "client_port": self.client_address[1],
                    }
                )
                status, payload, *rest = server.answer(self.command, self.path, self.headers, body)
                if rest and rest[0]:
                    time.sleep(rest[0])
                if status is None:
                    self.close_connection = True
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up first (a timeout test)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server's method names

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
