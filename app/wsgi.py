"""The WSGI entry point for gunicorn: `gunicorn app.wsgi:application`."""

from __future__ import annotations

import sys

from app import check_durability_at_start, create_app
from app.cli import register
from app.logs import configure
from app.settings import ConfigError

configure("web")
try:
    application = create_app()
except ConfigError as exc:
    sys.exit(str(exc))
register(application)  # the CLI's groups under `flask --app app.wsgi`
check_durability_at_start(application)
