"""gunicorn settings for the `web` process (see docs/BENCHMARKS.md for why gevent).

A request held for the inline budget must not starve the others: the gevent worker holds
thousands of open requests per process; gthread with 16 threads served 102 rps at 200 ms
POS latency where gevent served 489 (measured.md, bench/).
"""

import logging
import os
import shutil
import sys
import tempfile

from gunicorn import glogging

# app.settings (and app.logs below) import nothing that opens sockets or ssl: the master must not
# import redis, requests or celery before the gevent worker patches them (MonkeyPatchWarning).
from app.settings import ConfigError, process_value

try:
    bind = f"{process_value('WEB_BIND')}:{process_value('PORT')}"
    workers = process_value("WEB_CONCURRENCY")
    worker_class = process_value("WEB_WORKER_CLASS")
    worker_connections = process_value("WEB_WORKER_CONNECTIONS")
    threads = process_value("WEB_THREADS")  # used by gthread only
    graceful_timeout = process_value("WEB_GRACEFUL_TIMEOUT")
    # gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two
    # gunicorns on one host would take each other's. Off unless WEB_CONTROL_SOCKET names one.
    control_socket = process_value("WEB_CONTROL_SOCKET") or "gunicorn.ctl"
    control_socket_disable = process_value("WEB_CONTROL_SOCKET") is None
except ConfigError as exc:
    sys.exit(str(exc))
timeout = 30
# Above the app's own limits (app/body.py answers 414/431 as JSON): the app sees the request
# first; past these gunicorn answers itself, as JSON too (app/server_errors.py). The header block
# is capped at 32 KiB in all whatever these say (app/server_request.py).
limit_request_line = 8190
limit_request_fields = 128
limit_request_field_size = 8192
keepalive = 5
accesslog = None
errorlog = "-"
# gunicorn's own lines ("Booting worker", "Worker timeout") as JSON too, like the app's (app/logs.py)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logs.JsonFormatter", "process_kind": "web"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },  # off, as accesslog
}
logging.captureWarnings(True)


class _Logger(glogging.Logger):
    """gunicorn's logger, building no access-log line unless `accesslog` is set: with
    logconfig_dict set, gunicorn would build one for every request (2-3% of a validate's CPU)
    only for the gunicorn.access logger above to drop it. The app logs one line per answer."""

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = _Logger

# Prometheus multiprocess mode: each gunicorn worker writes its counters here and /metrics adds
# them up. A directory made here is this master's alone and is removed when it exits.
_OWN_METRICS_DIR = None
if not process_value("PROMETHEUS_MULTIPROC_DIR"):
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="posbridge-metrics-")


def on_starting(server):
    """Check every setting in the master, so a bad one stops the process with its name."""
    from app.settings import load_settings

    try:
        load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr, flush=True)
        sys.exit(1)


def post_worker_init(worker):
    from app import server_errors, server_request

    server_errors.install()
    server_request.install()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
