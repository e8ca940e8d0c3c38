"""The order console: server-rendered pages for on-call (operations.md, "Observability").

Its own Flask app and process (`python -m app.console`, the Procfile's `console`, on
CONSOLE_ADDRESS:CONSOLE_PORT), never PAR's: the web and nginx in front of it route none of its
paths. Every page is behind FLOWER_BASIC_AUTH (the login Flower has) and every action carries a
CSRF token (app/console/guard.py). It reads and acts through the same store and service calls
as the on-call CLI (app/cli/); an action is recorded in the order's history as by
`console:<user>`.

Modules: guard (login, CSRF, headers), queries (what the lists read), timeline (an order's
record and history for a person), views (the routes), server (the process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from flask import Flask

    from app import Services


def create_console(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """The console's Flask app on the service's objects (`services`: a test's, else built as the
    web builds them); ConfigError without FLOWER_BASIC_AUTH."""
    from flask import Flask

    from app.console import guard, timeline, views

    settings = settings or (services.settings if services else load_settings())
    if not settings.flower_basic_auth:
        raise ConfigError("FLOWER_BASIC_AUTH", "is required by the order console as user:password")
    if services is None:
        from app import create_app

        services = create_app(settings).extensions["posbridge"]
    console = Flask(__name__)
    console.extensions["posbridge"] = services
    console.jinja_env.globals["when"] = timeline.when
    guard.install(console, settings.flower_basic_auth)
    console.register_blueprint(views.bp)
    return console
