"""The callback receiver: what PAR's callback_url would be, run inside the harness.

`/cb/{uid}?mode=ok` answers 204; `flaky` answers 500 to the first delivery, then 204;
`dead` always answers 500, so the service must give up and keep the callback for replay;
`trickle` answers the first delivery 200 one byte at a time for `trickle_seconds` (longer
than CALLBACK_TIMEOUT_SECONDS: the sender must leave first), then 204 at once.
Every delivery is recorded with when it began and ended and whether its x-pch-digest matched.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlparse

from app import jsonio, signing

LEFT = 499  # a trickled answer the sender hung up on before its end (nginx's "client closed request")
TRICKLE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"


@dataclass
class Delivery:
    uid: str
    at: float  # when the request arrived
    status: str | None
    digest_ok: bool
    answered: int  # the HTTP status written, or LEFT
    key: str | None = None  # its Idempotency-Key header
    ended: float = 0.0  # when the answer was written, or the sender was seen gone (0: at `at`)

    @property
    def end(self) -> float:
        return self.ended or self.at


class Receiver:
    def __init__(self, digest_key: bytes, trickle_seconds: float = 9.0):
        self.digest_key = digest_key
        self.trickle_seconds = trickle_seconds
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # the http.server API
                receiver.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="callbacks", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.time()
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
            trickle = mode == "trickle" and earlier == 0
            fail = mode == "dead" or (mode == "flaky" and earlier == 0)
            status = body.get("status") if isinstance(body, dict) else None
            delivery = Delivery(
                uid,
                arrived,
                status,
                ok,
                200 if trickle else 500 if fail else 204,
                request.headers.get("Idempotency-Key"),
            )
            self.deliveries.append(delivery)
        if trickle:
            request.close_connection = True
            if not self.trickle(request.connection):
                delivery.answered = LEFT
        else:
            request.send_response(delivery.answered)
            request.send_header("Content-Length", "0")
            request.end_headers()
        delivery.ended = time.time()

    def trickle(self, sock: socket.socket) -> bool:
        """Write a 200 a byte at a time over `trickle_seconds`; False as soon as the sender
        hangs up (its FIN wakes the wait at once), True if it stayed to the end."""
        gap = self.trickle_seconds / len(TRICKLE)
        for byte in TRICKLE:
            readable, _, _ = select.select([sock], [], [], gap)
            try:
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    return False
                sock.sendall(bytes([byte]))
            except OSError:
                return False
            if readable:
                time.sleep(gap)  # it sent something more: wait the gap anyway
        return True

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
