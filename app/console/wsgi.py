"""The console's WSGI entry point (app/console/server.py serves it): `app.console.wsgi:application`."""

from __future__ import annotations

import sys

from app.console import create_console
from app.logs import configure
from app.settings import ConfigError

configure("console")
try:
    application = create_console()
except ConfigError as exc:
    sys.exit(str(exc))
