"""The console's process: gunicorn (one worker, a few threads: a handful of on-call people) on
CONSOLE_ADDRESS:CONSOLE_PORT, refusing to start without FLOWER_BASIC_AUTH, like Flower.

gunicorn is run from here, not from its command line, so it never reads the web's
gunicorn.conf.py (the web's bind, workers and gevent) from the working directory.
"""

from __future__ import annotations

import sys

from app.settings import ConfigError, process_value

THREADS = 4


def options() -> dict:
    """gunicorn's settings for the console; SystemExit naming the setting that is wrong."""
    try:
        auth, port, address = (process_value(name) for name in ("FLOWER_BASIC_AUTH", "CONSOLE_PORT", "CONSOLE_ADDRESS"))
    except ConfigError as exc:
        sys.exit(str(exc))
    if auth is None:
        sys.exit("configuration error: FLOWER_BASIC_AUTH: is required by the order console as user:password")
    return {
        "bind": f"{address}:{port}",
        "proc_name": "posbridge-console",  # `ps` tells it from the web where setproctitle retitles both
        "workers": 1,
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "control_socket_disable": True,
        "logconfig_dict": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": "app.logs.JsonFormatter", "process_kind": "console"}},
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
            },
            "root": {"level": "INFO", "handlers": ["console"]},
            "loggers": {
                "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
                "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            },
        },
    }


def main() -> None:
    from gunicorn.app.base import BaseApplication

    class Console(BaseApplication):
        def load_config(self) -> None:
            for name, value in options().items():
                if name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self):
            from app.console.wsgi import application

            return application

    Console().run()
