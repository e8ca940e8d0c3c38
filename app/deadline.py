"""One outbound call bounded as a whole: `hard_deadline(seconds)`.

requests' timeouts are per socket operation, so a peer that trickles its answer a byte at a
time, or a resolver that stalls, can stretch a call far past them. Inside `hard_deadline` the
call is interrupted once `seconds` have passed, whatever it is doing, with `CallTimeout`:

- where gevent has patched the socket module (the web's and the worker's processes), by
  gevent.Timeout, which interrupts any wait of the current greenlet (DNS through gevent's
  resolver included);
- in a plain process's main thread (the CLI), by SIGALRM (setitimer).

Anywhere else (a plain thread of a plain process) no hard bound can be set, and the caller is
told so (`HardBoundUnavailable`) rather than left unbounded.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class CallTimeout(Exception):
    """The whole call ran out of its time."""


class HardBoundUnavailable(RuntimeError):
    """No way to bound a call as a whole in this thread."""


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


@contextlib.contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    seconds = max(seconds, 0.001)
    if _gevent_patched():
        from gevent import Timeout

        with Timeout(seconds, CallTimeout):
            yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise HardBoundUnavailable("a call bounded as a whole needs gevent or the main thread")

    def _expired(_signum, _frame):
        raise CallTimeout(f"no answer within {seconds:.2f}s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
