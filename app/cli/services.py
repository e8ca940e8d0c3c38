"""The service's objects for a CLI command: the running app's (`flask --app app.wsgi ...`), else
built once per command from the service's configuration (app/settings_files.cli_environment);
and who asks, for the order's history."""

from __future__ import annotations

import click
from flask import current_app, has_app_context

from app import Services, create_app
from app.settings import load_settings
from app.settings_files import cli_environment, operator


def services() -> Services:
    """The service's objects (store, menus, tasks, settings), built once per command."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    found = root.meta.get("posbridge.services")
    if found is None:
        app = create_app(load_settings(cli_environment()))
        app_context = app.app_context()
        app_context.push()
        root.call_on_close(app_context.pop)
        found = root.meta["posbridge.services"] = app.extensions["posbridge"]
    return found


def current_services() -> Services:
    """The app's objects when the command runs in one (`flask --app app.wsgi`), else services()."""
    if has_app_context() and "posbridge" in current_app.extensions:
        return current_app.extensions["posbridge"]
    return services()


def asked_by() -> str:
    """Who runs the command, as the order's history records it (`by: cli/<operator>`)."""
    return f"cli/{operator()}"
