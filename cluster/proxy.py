"""A TCP proxy whose target and added latency can change while it runs.

Two uses: a single endpoint in front of a Redis that fails over (a managed service's name,
re-pointed at the new primary; open connections stay where they were, as after a DNS change),
and 2 s of latency between a worker host and Redis when the kernel has no `sch_netem`
(`tc qdisc ... netem` answers "Specified qdisc kind is unknown" on this machine's kernel).
Latency is added to every chunk in both directions, so a request/response round trip costs
2 x delay.
"""

from __future__ import annotations

import socket
import threading
import time


class Proxy:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay: float = 0.0):
        self.listen = listen
        self.target = target
        self.delay = delay
        self.sock: socket.socket | None = None
        self.stopping = threading.Event()
        self.accepted = 0

    def start(self) -> Proxy:
        self.sock = socket.create_server(self.listen, reuse_port=False)
        self.listen = self.sock.getsockname()[:2]
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.sock:
            self.sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
