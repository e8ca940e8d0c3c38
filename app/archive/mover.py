"""The mover: final orders older than ARCHIVE_AFTER_SECONDS leave Redis for the archive, a batch at
a time. Each batch is (1) read from Redis (each order's hash and history), (2) written to the
archive and committed, (3) removed from Redis by scripts.REMOVE, one order at a time, only if its
record is still exactly what was committed. A mover stopped anywhere leaves each order in Redis,
in the archive, or in both (a later run writes it again, unchanged, and removes it); never in
neither. The archive away or slow: the batch stops before anything leaves Redis."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from app import jsonio
from app.archive import scripts
from app.archive.db import Archive, ArchiveUnavailable, Row
from app.orders.keys import ALL_KEY, location_key
from app.orders.lifecycle import FINAL, Callback
from app.orders.store import OrderStore
from app.redis_client import reply_scored as scored

log = logging.getLogger(__name__)
MOVED = Counter("posbridge_archive_moved_total", "final orders moved from Redis to the archive")
FAILURES = Counter(
    "posbridge_archive_failures_total",
    "mover runs or retention passes stopped because the archive was away or slow (nothing left Redis)",
    ["step"],
)
LAST_SUCCESS = Gauge(
    "posbridge_archive_last_success_timestamp_seconds",
    "when the mover last finished a run (Unix s)",
    multiprocess_mode="max",
)
BACKLOG = Gauge(
    "posbridge_archive_backlog_orders",
    "orders older than ARCHIVE_AFTER_SECONDS still in Redis at the "
    "end of the last run (finals waiting to move, and open orders)",
    multiprocess_mode="max",
)
BUSY = (Callback.OWED,)  # a dead callback moves: it stays listed in callbacks:dead, replay restores it
LOCK_KEY = "archive:mover"
MOVED_MARK_SECONDS = 300  # outlives any submit's archive lookup before its CREATE (a budget is seconds)


@dataclass
class Run:
    moved: int = 0
    kept: int = 0  # older than the cutoff but not movable (open, a callback or lookup pending, changed)
    backlog: int = 0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ArchiveMover:
    def __init__(
        self,
        store: OrderStore,
        archive: Archive,
        *,
        after_seconds: float,
        batch: int = 500,
        on_written: Callable[[set[str]], object] | None = None,
    ) -> None:
        self.store = store
        self.redis = store.redis
        self.archive = archive
        self.after = after_seconds
        self.batch = batch
        self.on_written = on_written  # tests: called between the archive's commit and the removals
        self._remove = self.redis.register_script(scripts.REMOVE)

    def run(self, max_batches: int = 100) -> Run:
        """Move what is due, at most `max_batches` batches; ArchiveUnavailable stops it (counted)."""
        run, offset = Run(), 0
        cutoff = self.store.now() - self.after
        try:
            for _ in range(max_batches):
                members = self.redis.zrangebyscore(
                    ALL_KEY, "-inf", cutoff, start=offset, num=self.batch, withscores=True
                )
                if not members:
                    break
                moved = self._batch(scored(members))
                run.moved += moved
                run.kept += len(members) - moved
                offset += len(members) - moved  # removed members left the index; kept ones are skipped
                if len(members) < self.batch:
                    break
        except ArchiveUnavailable as exc:
            FAILURES.labels("move").inc()
            log.warning("archive unavailable: moving paused, nothing left Redis", extra={"error": str(exc)})
            raise
        run.backlog = int(self.redis.zcount(ALL_KEY, "-inf", cutoff))
        BACKLOG.set(run.backlog)
        LAST_SUCCESS.set(time.time())
        if run.moved:
            log.info("final orders archived", extra={"count": run.moved, "kept": run.kept})
        return run

    def _snapshot(self, uids: list[str]) -> list[tuple[dict[bytes, bytes], list[bytes]]]:
        """Each order's hash and history, as Redis holds them (bytes)."""
        pipe = self.redis.pipeline(transaction=False)
        for uid in uids:
            pipe.hgetall(f"order:{uid}")
            pipe.lrange(f"order:{uid}:history", 0, -1)
        out = pipe.execute()
        return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]

    def _confirm(self, unconfirmed: list[tuple[str, str]]) -> None:
        """Finals never confirmed durable (DURABILITY=replica, never read since): one probe for
        the batch, recorded with each (scripts.CONFIRMED, its mark waited for), so the next run
        moves them."""
        if unconfirmed and self.store.durability.confirm(self.redis):
            for uid, status in unconfirmed:
                self.store.record_confirmed(uid, status)

    def _batch(self, members: list[tuple[str, float]]) -> int:
        rows, guards, unconfirmed = [], {}, []
        now = time.time()
        for (uid, score), (fields, history) in zip(members, self._snapshot([u for u, _ in members]), strict=True):
            record = {_text(k): _text(v) for k, v in fields.items()}
            status = record.get("status", "")
            if status in FINAL and record.get("acked") != status:
                unconfirmed.append((uid, status))
            if (
                status not in FINAL
                or record.get("acked") != status
                or record.get("cb", "") in BUSY
                or record.get("rc") == "open"
            ):
                continue  # open, unconfirmed, or a callback or lookup still to come: it stays
            location = _location(record)
            if location is None:
                continue
            record.pop("pos_body", None)  # never sent again once final
            rows.append(
                Row(uid, location, score, status, record.get("fp", ""), record, [_text(h) for h in history], now)
            )
            guards[uid] = (location, status, scripts.digest(fields), len(history))
        self._confirm(unconfirmed)
        if not rows:
            return 0
        committed = self.archive.put(rows)  # written and committed before anything leaves Redis
        if self.on_written is not None:
            self.on_written(committed)
        pipe = self.redis.pipeline(transaction=False)
        order = [uid for uid in guards if uid in committed]
        for uid in order:
            location, status, sha, length = guards[uid]
            self._remove(
                keys=[
                    f"order:{uid}",
                    f"order:{uid}:history",
                    ALL_KEY,
                    location_key(location),
                    f"order:{uid}:moved",
                    location_key(location, status),
                ],
                args=[uid, sha, length, MOVED_MARK_SECONDS],
                client=pipe,
            )
        results = pipe.execute()
        moved = sum(1 for result in results if int(result[0]) == 1)
        MOVED.inc(moved)
        return moved

    def retention(self, retention_seconds: float, batch: int = 1000) -> int:
        """Delete archived orders older than the retention, in batches."""
        try:
            return self.archive.delete_before(time.time() - retention_seconds, batch)
        except ArchiveUnavailable:
            FAILURES.labels("retention").inc()
            raise


def _location(record: dict[str, str]) -> str | None:
    try:
        location = jsonio.loads(record.get("doc", ""))["location_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return location if isinstance(location, str) else None
