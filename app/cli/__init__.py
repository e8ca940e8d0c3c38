"""`posbridge`: the one command line of the project (click; Flask's CLI underneath).

    posbridge serve                         the whole service for real (./dev serve)
    posbridge orders show|list|summary|redrive, callbacks list|replay, menus show|refresh
    posbridge sample submit|validate|poll   signed sample orders against a running service
    posbridge sign [FILE] | token           x-pch-digest of a body, a JWT: for /docs and curl
    posbridge config check|env-example      every configuration problem at once; .env.example
    posbridge archive migrate|move|status   the archive of final orders (migrate: once per release)
    posbridge flask ...                     Flask's own commands (routes, shell)

`--help` needs no configuration. A command that needs the service loads it the way the service
does: the environment, then `var/serve.env` (what a running `./dev serve` gave its processes),
then `.env`. Every configuration problem is listed at once; Redis, broker or POS trouble is one
line on stderr and a non-zero exit code (2 configuration, 3 Redis or broker, 4 POS), never a
traceback. Everything printed has its control characters escaped (app/cli/output.py).
"""

from __future__ import annotations

import click

from app import create_app
from app.cli.archive import archive
from app.cli.callbacks import callbacks
from app.cli.config import config
from app.cli.group import PosbridgeGroup, quiet_exit
from app.cli.menus import menus
from app.cli.orders import orders
from app.cli.sample import sample
from app.cli.sign import sign, token
from app.settings import ConfigError, load_settings
from app.settings_files import cli_environment


@click.group(cls=PosbridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="posbridge")
def main() -> None:
    """posbridge: the order bridge between PAR Ordering and restaurant POS systems."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def serve() -> None:
    """Run the whole service for real: API, worker, beat, POS simulator, Flower, order console (./dev serve)."""
    from bin.run import main as run

    run()


def _flask_app():
    app = create_app(load_settings(cli_environment()))
    register(app)
    return app


def _register_subcommands() -> None:
    from flask.cli import FlaskGroup

    class FlaskCommands(FlaskGroup):
        """Flask's group; its --help lists Flask's own commands even when the app cannot load
        (FlaskGroup would print the configuration error as a traceback there)."""

        def list_commands(self, ctx):
            try:
                load_settings(cli_environment())
            except ConfigError:
                return click.Group.list_commands(self, ctx)
            return super().list_commands(ctx)

    for group in (config, sign, token, orders, callbacks, menus, sample, archive):
        main.add_command(group)
    main.add_command(
        FlaskCommands(
            name="flask",
            create_app=_flask_app,
            add_version_option=False,
            load_dotenv=False,
            help="Flask's own commands (routes, shell) on the app.",
        )
    )


_register_subcommands()


def register(app) -> None:
    """The same groups under `flask --app app.wsgi` (as before `posbridge`) and `posbridge flask`."""
    for group in (orders, callbacks, menus):
        app.cli.add_command(group)


def run() -> None:
    """The console script's entry point."""
    try:
        main(prog_name="posbridge")
    except BrokenPipeError:  # written outside a command (--help, click's own messages)
        quiet_exit()
