"""`posbridge archive migrate|move|status`: the archive of final orders (app/archive/).

`migrate` is the one place the archive's table is created or changed: run once per release
(compose's one-shot `archive-migrate`, a Kubernetes Job, `./dev serve` at start), never by the
service's processes. It needs ARCHIVE_URL only."""

from __future__ import annotations

import time

import click

from app.cli.output import Trouble, safe, say
from app.cli.services import services
from app.settings_files import cli_environment


@click.group("archive", help="The archive of final orders: migrate it, move to it now, see it.")
def archive() -> None:
    pass


@archive.command("migrate")
def migrate() -> None:
    """Create or bring up to date the archive's table (idempotent; safe to run twice at once)."""
    from app.archive.db import make_engine
    from app.archive.schema import LATEST
    from app.archive.schema import migrate as run_migrations
    from app.settings import process_value

    url = process_value("ARCHIVE_URL", cli_environment())
    if not url:
        raise Trouble("ARCHIVE_URL is not set: there is no archive to migrate", 2)
    applied = run_migrations(make_engine(url, timeout=10.0), time.time())
    say(f"archive at version {LATEST}" + (f" (applied {', '.join(map(str, applied))})" if applied else ""))


def _mover():
    from app.archive.mover import ArchiveMover

    found = services()
    if found.archive is None:
        raise Trouble("ARCHIVE_URL is not set: finals stay in Redis", 2)
    return ArchiveMover(found.store, found.archive, after_seconds=found.settings.archive_after_seconds)


@archive.command("move")
@click.option("--batches", default=100, show_default=True, help="at most this many batches")
def move(batches: int) -> None:
    """Move the final orders that are due now (what beat's mover does every minute)."""
    run = _mover().run(max_batches=batches)
    say(f"moved {run.moved}; kept in Redis {run.kept}; older than ARCHIVE_AFTER_SECONDS still in Redis {run.backlog}")


@archive.command("status")
def status() -> None:
    """Rows in the archive, and orders due to move but still in Redis."""
    from app.orders.keys import ALL_KEY

    mover = _mover()
    cutoff = mover.store.now() - mover.after
    say(
        f"archive {safe(mover.archive.engine.url.render_as_string(hide_password=True))}: "
        f"{mover.archive.count()} orders; due to move, still in Redis: "
        f"{mover.redis.zcount(ALL_KEY, '-inf', cutoff)}"
    )
