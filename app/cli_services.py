"""The service's objects for a CLI command, built once per command from the service's
configuration (app/settings_files.cli_environment)."""

from __future__ import annotations

import click

from app import Services, create_app
from app.settings import load_settings
from app.settings_files import cli_environment


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
