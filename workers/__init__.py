"""The Celery app, configured from the same settings as the web (celery_init_app).

Run with `python -m bin.celery_command -A workers worker --pool gevent` (the Procfile's line) and
`celery -A workers beat`.
"""

from __future__ import annotations

import sys

from app import check_durability_at_start, create_app
from app.logs import configure
from app.redis_client import WORKER_SOCKET_TIMEOUT
from app.settings import ConfigError

configure("worker")
try:
    flask_app = create_app(redis_timeout=WORKER_SOCKET_TIMEOUT)  # nobody waits on a task: through a slow link
except ConfigError as exc:
    sys.exit(str(exc))
check_durability_at_start(flask_app)
celery = flask_app.extensions["celery"]
