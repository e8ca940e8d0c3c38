"""A TCP proxy whose target and added latency can change while it runs.

Three uses: a single endpoint in front of a Redis that fails over (a managed service's name,
re-pointed at the new primary; open connections stay where they were, as after a DNS change),
a link that can be cut (`cut()`: from then on no byte and no close crosses it, either way, as
when a cable is pulled: both ends keep their connection open and hear nothing), and 2 s of
latency between a worker host and Redis when the kernel has no `sch_netem` (`tc qdisc ...
netem` answers "Specified qdisc kind is unknown" on this machine's kernel).
Latency is added to every chunk in both directions, so a request/response round trip costs
2 x delay.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h: where a REDIRECTed connection was going


class Proxy:
    def __init__(
        self, listen: tuple[str, int], target: tuple[str, int] | None, delay: float = 0.0, source: str | None = None
    ):
        """target None: each connection goes where it was going before iptables REDIRECTed it
        here; source: the address upstream connections leave from (one the REDIRECT rule skips)."""
        self.listen = listen
        self.target = target
        self.delay = delay
        self.source = source
        self.sock: socket.socket | None = None
        self.stopping = threading.Event()
        self.severed = threading.Event()  # cut(): nothing crosses any more
        self.accepted = 0

    def start(self) -> Proxy:
        self.sock = socket.create_server(self.listen, reuse_port=False)
        self.listen = self.sock.getsockname()[:2]
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        """Pull the cable: every byte and every close either way is dropped from now on."""
        self.severed.set()

    def stop(self) -> None:
        self.stopping.set()
        if self.sock:
            self.sock.close()

    def _accept(self) -> None:
        assert self.sock is not None  # listening before this thread starts
        while not self.stopping.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                target = self.target or _original_dst(client)
                upstream = socket.create_connection(
                    target, timeout=2, source_address=(self.source, 0) if self.source else None
                )
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
                if self.severed.is_set():  # lost on the cut link; a close is not heard either
                    if not data:
                        return
                    continue
                if not data:
                    break
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            if self.severed.is_set():
                return
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _original_dst(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


def main(argv=None) -> None:
    """`python -m cluster.proxy --listen HOST:PORT [--target HOST:PORT] [--delay S] [--source IP]`"""
    parser = argparse.ArgumentParser(prog="python -m cluster.proxy")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--target")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to each chunk, each direction")
    parser.add_argument("--source")
    args = parser.parse_args(argv)

    def address(text):
        host, _, port = text.rpartition(":")
        return host, int(port)

    Proxy(address(args.listen), address(args.target) if args.target else None, args.delay, args.source).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
