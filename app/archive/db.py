"""The archive of final orders (SQLAlchemy Core: PostgreSQL through psycopg 3 in production, a
SQLite file as the embedded default). Every failure to reach it, or a statement past its timeout,
is ArchiveUnavailable: the mover pauses, a reader of an archived order answers 503."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.archive.schema import orders

log = logging.getLogger(__name__)
T = TypeVar("T")
COLUMNS = (
    orders.c.request_uid,
    orders.c.location_id,
    orders.c.created,
    orders.c.status,
    orders.c.fp,
    orders.c.record,
    orders.c.history,
    orders.c.moved_at,
)


class ArchiveUnavailable(Exception):
    """The archive cannot answer now (down, slow, or not migrated): nothing may be said from it."""


@dataclass(frozen=True)
class Row:
    uid: str
    location: str
    created: float  # the order's score in the Redis indexes (Unix s)
    status: str
    fp: str
    record: dict[str, str]  # the order hash's fields as they were when it moved
    history: list[str] = field(default_factory=list)  # the history list's entries, as stored
    moved_at: float = 0.0


def engine_url(url: str) -> str:
    """A libpq URI for SQLAlchemy with psycopg 3 (its bare postgresql:// means psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, timeout: float = 2.0) -> sa.Engine:
    url = engine_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": timeout})

        @sa.event.listens_for(engine, "connect")
        def _wal(conn: sqlite3.Connection, _record: object) -> None:  # readers (the web) go on while the mover writes
            conn.execute("PRAGMA journal_mode=WAL")

        return engine
    # a statement past its timeout fails (the archive is "slow"), a connection attempt too. No ping
    # before each use (a round trip per read): a connection found dead is retried once (Archive._do).
    # A server gone silent (its host cut off: no refusal, no reset) would hold a pooled connection's
    # call until TCP gave up, minutes later: bytes unacknowledged for `timeout` (tcp_user_timeout),
    # or an idle connection whose keepalives go unanswered, end it instead
    return sa.create_engine(
        url,
        pool_size=2,
        max_overflow=8,
        pool_timeout=timeout,
        connect_args={
            "connect_timeout": max(1, int(timeout)),
            "options": f"-c statement_timeout={int(timeout * 1000)}",
            **silent_server_bounds(timeout),
        },
    )


def silent_server_bounds(timeout: float) -> dict[str, int]:
    """libpq's client-side bounds on a server that stopped answering at the TCP level."""
    return {
        "tcp_user_timeout": int(timeout * 1000),
        "keepalives": 1,
        "keepalives_idle": max(1, int(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 2,
    }


def _row(values: Sequence[Any]) -> Row:
    uid, location, created, status, fp, record, history, moved_at = values
    return Row(uid, location, float(created), status, fp, json.loads(record), json.loads(history), float(moved_at))


class Archive:
    def __init__(self, url: str, timeout: float = 2.0, engine: sa.Engine | None = None):
        self.url = url
        self.engine = engine or make_engine(url, timeout)

    def _do(self, work: Callable[[], T]) -> T:
        """`work()`, retried once when it failed on a connection found dead (PostgreSQL restarted:
        the pool is emptied, and the retry connects anew; a write's transaction was rolled back)."""
        try:
            try:
                return work()
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                return work()
        except sa.exc.SQLAlchemyError as exc:
            raise ArchiveUnavailable(type(exc).__name__) from exc

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(orders)

    def put(self, rows: list[Row]) -> set[str]:
        """Write `rows` and commit, in one transaction. A row already there keeps its final
        (status, fingerprint): its record and history are brought up to date only when those
        match. Returns the uids whose committed row holds the same final as `rows` says."""
        if not rows:
            return set()
        stmt = self._insert()
        stmt = stmt.on_conflict_do_update(
            index_elements=[orders.c.request_uid],
            set_={"record": stmt.excluded.record, "history": stmt.excluded.history, "moved_at": stmt.excluded.moved_at},
            where=sa.and_(orders.c.status == stmt.excluded.status, orders.c.fp == stmt.excluded.fp),
        )
        values = [
            {
                "request_uid": r.uid,
                "location_id": r.location,
                "created": r.created,
                "status": r.status,
                "fp": r.fp,
                "record": json.dumps(r.record, separators=(",", ":")),
                "history": json.dumps(r.history, separators=(",", ":")),
                "moved_at": r.moved_at,
            }
            for r in rows
        ]
        wanted = {r.uid: (r.status, r.fp) for r in rows}

        def work() -> Sequence[sa.Row[Any, Any, Any]]:  # (request_uid, status, fp)
            with self.engine.begin() as conn:
                conn.execute(stmt, values)
                return conn.execute(
                    sa.select(orders.c.request_uid, orders.c.status, orders.c.fp).where(
                        orders.c.request_uid.in_(list(wanted))
                    )
                ).all()

        return {uid for uid, status, fp in self._do(work) if wanted.get(uid) == (status, fp)}

    def get_many(self, uids: list[str]) -> dict[str, Row]:
        if not uids:
            return {}

        def work() -> Sequence[sa.Row[Any, Any, Any, Any, Any, Any, Any, Any]]:  # COLUMNS
            with self.engine.connect() as conn:
                return conn.execute(sa.select(*COLUMNS).where(orders.c.request_uid.in_(uids))).all()

        return {row[0]: _row(row) for row in self._do(work)}

    def get(self, uid: str) -> Row | None:
        return self.get_many([uid]).get(uid)

    def page(
        self,
        location: str,
        count: int,
        *,
        since: float | None = None,
        after: tuple[float, str] | None = None,
        status: str | None = None,
    ) -> list[tuple[float, str]]:
        """Up to `count` (created, uid) of a location (in `status`) after `after` (else from `since`,
        inclusive), in the Redis index's order: by created, then request_uid bytewise."""
        c = orders.c
        query = sa.select(c.created, c.request_uid).where(c.location_id == location)
        if status is not None:
            query = query.where(c.status == status)
        if after is not None:
            query = query.where(c.created >= after[0], sa.or_(c.created > after[0], c.request_uid > after[1]))
        elif since is not None:
            query = query.where(c.created >= since)
        query = query.order_by(c.created, c.request_uid).limit(count)

        def work() -> list[tuple[float, str]]:
            with self.engine.connect() as conn:
                return [(float(created), uid) for created, uid in conn.execute(query)]

        return self._do(work)

    def recent(
        self, since: float, limit: int, location: str | None = None, newest_first: bool = False
    ) -> list[tuple[float, str]]:
        """Up to `limit` (created, uid) created at `since` or later (at one location)."""
        c = orders.c
        query = sa.select(c.created, c.request_uid).where(c.created >= since)
        if location is not None:
            query = query.where(c.location_id == location)
        order = (c.created.desc(), c.request_uid.desc()) if newest_first else (c.created, c.request_uid)
        query = query.order_by(*order).limit(limit)

        def work() -> list[tuple[float, str]]:
            with self.engine.connect() as conn:
                return [(float(created), uid) for created, uid in conn.execute(query)]

        return self._do(work)

    def delete_before(self, cutoff: float, batch: int = 1000, batches: int = 100) -> int:
        """Retention: delete rows created before `cutoff`, `batch` rows a transaction (short
        locks, a bounded WAL a step), at most `batches` of them a call. Returns rows deleted."""
        deleted = 0
        for _ in range(batches):
            oldest = (
                sa.select(orders.c.request_uid)
                .where(orders.c.created < cutoff)
                .order_by(orders.c.created)
                .limit(batch)
                .scalar_subquery()
            )

            def work(oldest: sa.ScalarSelect[Any] = oldest) -> int:
                with self.engine.begin() as conn:
                    return conn.execute(orders.delete().where(orders.c.request_uid.in_(oldest))).rowcount

            count = self._do(work)
            deleted += count
            if count < batch:
                break
        return deleted

    def count(self) -> int:
        def work() -> int:
            with self.engine.connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar() or 0)

        return self._do(work)
