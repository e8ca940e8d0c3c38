"""The archive's one table and its migrations (plain, versioned, run once by
`posbridge archive migrate` or compose's one-shot `archive-migrate`, never by the service's processes).

One row per final order that left Redis: its record (the Redis hash as it was when it moved, but its
POS request body, which no final order sends again) and its history (the list's JSON entries).
`created` is the order's score in the Redis indexes (Unix seconds), so the recovery list pages
Redis and the archive in one (created, request_uid) order: request_uid compares bytewise (PostgreSQL
collation "C"; SQLite's BINARY), as Redis compares members.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
UID = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")

orders = sa.Table(
    "archived_orders",
    metadata,
    sa.Column("request_uid", UID, primary_key=True),  # polling, resubmits, the CLI
    sa.Column("location_id", sa.String(128), nullable=False),
    sa.Column("created", sa.Float(precision=53), nullable=False),  # Unix s, the Redis index score
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("fp", sa.String(64), nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # JSON: the hash's fields
    sa.Column("history", sa.Text, nullable=False),  # JSON: the history list's entries (each a JSON text)
    sa.Column("moved_at", sa.Float(precision=53), nullable=False),
    sa.Index("archived_orders_by_location", "location_id", "created", "request_uid"),  # the recovery list
    sa.Index("archived_orders_by_created", "created"),  # retention
)

versions = sa.Table(
    "archive_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float(precision=53), nullable=False),
)


def _v1(conn: sa.Connection) -> None:
    orders.create(conn)


MIGRATIONS = ((1, _v1),)  # (version, step): append only; each step runs in the migration's transaction
LATEST = MIGRATIONS[-1][0]


def current(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(versions.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(versions.c.version))).scalar() or 0)


def migrate(engine: sa.Engine, now: float) -> list[int]:
    """Apply the steps not applied yet, in one transaction (PostgreSQL: under an advisory lock,
    so two runs at once apply each step once). Returns the versions applied."""
    applied: list[int] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(421021)"))
        if not sa.inspect(conn).has_table(versions.name):
            versions.create(conn)
        have = current(conn)
        for version, step in MIGRATIONS:
            if version > have:
                step(conn)
                conn.execute(versions.insert().values(version=version, applied_at=now))
                applied.append(version)
    return applied
