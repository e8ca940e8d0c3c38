"""`posbridge config check|env-example|readme-table`: the configuration, from app/settings.py's table."""

from __future__ import annotations

import click

from app.cli.group import PosbridgeGroup
from app.cli.output import say
from app.settings import load_settings
from app.settings_files import cli_environment, env_example, readme_table

config = PosbridgeGroup("config", help="Check the configuration; print .env.example.")


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
