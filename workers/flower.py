"""Start Flower wholly behind basic auth from FLOWER_BASIC_AUTH; refuse to start without it.

Flower reads FLOWER_BASIC_AUTH from the environment itself, so the password never shows in
the process list. Flower's own pages check it, but its /metrics and /healthcheck handlers do
not (flower 2.2: they skip tornado's `authenticated`): `protect()` puts them behind the same
check before Flower starts, in this process. Its port and address come from the settings
table (app/settings.py).
"""

from __future__ import annotations

import sys

from app.settings import ConfigError, process_value

OPEN_HANDLERS = ("Metrics", "Healthcheck")


def protect() -> None:
    """Every Flower handler behind the login: /metrics and /healthcheck answer 401 without it."""
    import tornado.web
    from flower.views import monitor

    for name in OPEN_HANDLERS:
        handler = getattr(monitor, name)
        if not getattr(handler.get, "posbridge_protected", False):
            wrapped = tornado.web.authenticated(handler.get)
            wrapped.posbridge_protected = True  # type: ignore[attr-defined]
            handler.get = wrapped


def main() -> None:
    try:
        auth = process_value("FLOWER_BASIC_AUTH")
        port, address = process_value("FLOWER_PORT"), process_value("FLOWER_ADDRESS")
    except ConfigError as exc:
        sys.exit(str(exc))
    if auth is None:
        sys.exit("configuration error: FLOWER_BASIC_AUTH: is required as user:password")
    protect()
    from celery.bin.celery import main as celery_main

    sys.argv = [
        "celery",
        "-A",
        "workers",
        "flower",
        f"--port={port}",
        f"--address={address}",
        "--purge_offline_workers=60",
    ]
    from app.logs import configure

    configure("worker")  # again, now that argv says flower: its lines carry process "flower"
    sys.exit(celery_main())


if __name__ == "__main__":
    main()
