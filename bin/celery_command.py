"""`python -m bin.celery_command <celery arguments>`: the `celery` command, with gevent's
patches applied before anything else is imported when the pool is gevent.

`celery … --pool gevent` patches inside its own entry point, after `celery` is imported. gevent's
patching walks the objects already alive and touches celery's lazy proxies, which import kombu
before `time` is patched: kombu then keeps the blocking `time.sleep`, and each broker reconnect
froze every greenlet of the worker for 2 s a try (POS calls and callback deliveries past their
bounds; docs/RELIABILITY.md). Patching first leaves nothing to hold the blocking originals.
It lives in bin/, not workers/: importing the workers package builds the app.
"""

from __future__ import annotations

import sys


def pool(argv: list[str]) -> str | None:
    """The pool named by `-P X`, `-PX`, `--pool X` or `--pool=X`, or None."""
    for index, arg in enumerate(argv):
        if arg in ("-P", "--pool"):
            return argv[index + 1] if index + 1 < len(argv) else None
        if arg.startswith("--pool="):
            return arg.partition("=")[2]
        if arg.startswith("-P") and len(arg) > 2:
            return arg[2:]
    return None


def patch_first(argv: list[str]) -> bool:
    """Apply gevent's patches when `argv` runs the gevent pool; True if it did."""
    if pool(argv) != "gevent":
        return False
    from gevent import monkey

    monkey.patch_all()
    return True


def main() -> None:
    patch_first(sys.argv[1:])
    from celery.__main__ import main as celery_main

    sys.argv[0] = "celery"
    celery_main()


if __name__ == "__main__":
    main()
