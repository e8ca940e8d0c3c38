"""The hiredis reply parser, with redis-py's pool-checkout probe kept off gevent's hub.

Every command redis-py sends first checks the connection it takes from the pool
(`ConnectionPool.get_connection` -> `can_read()`: a reply left over, or a connection the server
closed) with `select.poll()` and a timeout of 0. Under gevent's monkey-patching (gunicorn's
gevent worker, Celery's gevent pool) that is gevent's emulation of poll: an io watcher started
for the socket, a switch to the hub, a turn of its loop and back, for a check that cannot block.
By bench/web_profile.py that emulation was ~5% of a submit's user CPU in the web process;
bench/instructions.py counts 6% fewer instructions per submit (5% per validate) without it.

`HiredisParser.can_read(0)` answers the common case — nothing buffered in the reader, nothing on
the socket — with the operating system's own `poll(0)` (gevent's saved original), which returns
at once and so never blocks the hub. Any other case (a buffered reply, bytes or EOF on the
socket, a TLS socket, a non-zero timeout) is redis-py's own check, unchanged.
"""

from __future__ import annotations

import select

from redis._parsers import _HiredisParser

try:
    from gevent.monkey import get_original

    _os_poll = get_original("select", "poll")
except ImportError:  # no gevent: select.poll is the OS's
    _os_poll = select.poll


class HiredisParser(_HiredisParser):
    def can_read(self, timeout: float = 0) -> bool:
        sock, reader = self._sock, self._reader
        if (
            timeout == 0
            and sock is not None
            and reader is not None
            and not hasattr(sock, "pending")
            and not reader.has_data()
        ):
            poller = _os_poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
        return super().can_read(timeout)
