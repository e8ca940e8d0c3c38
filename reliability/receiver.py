"""The callback receiver: what PAR's callback_url would be, run inside the harness.

`/cb/{uid}?mode=ok` answers 204; `flaky` answers 500 to the first delivery, then 204;
`dead` always answers 500, so the service must give up and keep the callback for replay.
Every delivery is recorded with whether its x-pch-digest matched.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from app import jsonio, signing


@dataclass
class Delivery:
    uid: str
    at: float
    status: str | None
    digest_ok: bool
    answered: int
    key: str | None = None  # its Idempotency-Key header


class Receiver:
    def __init__(self, digest_key: bytes):
        self.digest_key = digest_key
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                receiver.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="callbacks", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        uid = url.path.rsplit("/", 1)[-1]
        mode = parse_qs(url.query).get("mode", ["ok"])[0]
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        try:
            body = jsonio.loads(raw)
        except jsonio.BadJson:
            body = None
        if isinstance(body, dict) and isinstance(body.get("request_uid"), str):
            uid = body["request_uid"]
        ok = isinstance(body, dict) and signing.verify(self.digest_key, body, request.headers.get("x-pch-digest"))
        with self.lock:
            earlier = sum(1 for d in self.deliveries if d.uid == uid)
            fail = mode == "dead" or (mode == "flaky" and earlier == 0)
            answer = 500 if fail else 204
            status = body.get("status") if isinstance(body, dict) else None
            self.deliveries.append(Delivery(uid, time.time(), status, ok, answer,
                                            request.headers.get("Idempotency-Key")))
        request.send_response(answer)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def counts(self) -> dict[str, int]:
        """Deliveries per request_uid (the body's, else the path's)."""
        with self.lock:
            out: dict[str, int] = {}
            for delivery in self.deliveries:
                out[delivery.uid] = out.get(delivery.uid, 0) + 1
            return out

    def for_uid(self, uid: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.uid == uid]
