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
traceback. Everything printed has its control characters escaped (app/cli_output.py).
"""

from __future__ import annotations

import click

from app import create_app, jsonio, signing
from app.cli_archive import archive
from app.cli_orders import callbacks, menus, orders
from app.cli_output import Trouble, say
from app.cli_sample import jwt_token, sample, shared_id
from app.settings import ConfigError, load_settings
from app.settings_files import cli_environment, env_example, readme_table

EXIT_CONFIG, EXIT_REDIS, EXIT_POS, EXIT_ARCHIVE = 2, 3, 4, 5


def _trouble_from(exc: BaseException) -> Trouble | None:
    """The one line an operator needs for an infrastructure failure, or None (a real bug)."""
    import kombu.exceptions
    import redis.exceptions

    from app.archive import ArchiveUnavailable
    from app.menus import MenuUnavailable
    from app.pos.base import PosUnavailable

    if isinstance(exc, ConfigError):
        return Trouble(str(exc), EXIT_CONFIG)
    if isinstance(exc, redis.exceptions.RedisError):
        return Trouble(f"Redis trouble: {type(exc).__name__}: {exc}", EXIT_REDIS)
    if isinstance(exc, (kombu.exceptions.OperationalError, ConnectionError, TimeoutError)):
        return Trouble(f"broker trouble: {type(exc).__name__}: {exc}", EXIT_REDIS)
    if isinstance(exc, ArchiveUnavailable):
        return Trouble(f"archive trouble: {exc}", EXIT_ARCHIVE)
    if isinstance(exc, (PosUnavailable, MenuUnavailable)):
        return Trouble(f"POS trouble: {exc}", EXIT_POS)
    return None


class PosbridgeGroup(click.Group):
    """Turns infrastructure trouble anywhere below into one line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            if not stdout_closed():
                raise Trouble("broker trouble: BrokenPipeError", EXIT_REDIS) from None
            quiet_exit()
        except Exception as exc:  # noqa: BLE001 - classified below; anything else is re-raised
            trouble = _trouble_from(exc)
            if trouble is None:
                raise
            raise trouble from None


def stdout_closed() -> bool:
    """Whether stdout's reader is gone (`| head -1` has read its line): poll says POLLERR."""
    import select
    import sys

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def quiet_exit() -> None:
    """A reader that stopped early is not an error: exit 0, and send what is still buffered to
    /dev/null so the interpreter's last flush does not complain either."""
    import os
    import sys

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(0)


@click.group(cls=PosbridgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="posbridge")
def main() -> None:
    """posbridge: the order bridge between PAR Ordering and restaurant POS systems."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def serve() -> None:
    """Run the whole service for real: API, worker, beat, POS simulator, Flower, order console (./dev serve)."""
    from bin.run import main as run

    run()


config = PosbridgeGroup("config", help="Check the configuration; print .env.example.")
main.add_command(config)


@config.command("check")
def config_check() -> None:
    """Every configuration problem at once (exit 2), or `configuration ok`."""
    load_settings(cli_environment())
    say("configuration ok")


@config.command("env-example")
def config_env_example() -> None:
    """.env.example as generated from app/settings.py's table of variables."""
    click.echo(env_example(), nl=False)


@config.command("readme-table")
def config_readme_table() -> None:
    """The README's configuration table as generated from the same table."""
    click.echo(readme_table(), nl=False)


@main.command()
@click.argument("body", type=click.File("rb"), default="-")
@click.option("--example", type=click.Choice(["submit", "validate"]), default=None,
              help="sign the /docs example body of this operation (and print it) instead of reading one")
def sign(body, example: str | None) -> None:
    """Print the x-pch-digest of an order body (a file, or stdin) with the configured PAR_SHARED_ID."""
    if example:
        from app.openapi import example_order

        document = example_order("place-order" if example == "submit" else "validate-order")
        say(jsonio.dumps(document))
    else:
        try:
            document = jsonio.loads(body.read())
        except ValueError as exc:
            raise click.ClickException(f"the body is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise click.ClickException("the body is not a JSON object")
    say(signing.sign(signing.key_from_shared_id(shared_id()), document))


@main.command()
@click.option("--seconds", default=3600, show_default=True, help="how long the token is valid")
def token(seconds: int) -> None:
    """Print a JWT signed with the configured PAR_JWT_SECRET (for /docs' Authorize and curl)."""
    say(jwt_token(seconds))


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

    for group in (orders, callbacks, menus, sample, archive):
        main.add_command(group)
    main.add_command(FlaskCommands(name="flask", create_app=_flask_app, add_version_option=False,
                                   load_dotenv=False, help="Flask's own commands (routes, shell) on the app."))


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


if __name__ == "__main__":
    run()
