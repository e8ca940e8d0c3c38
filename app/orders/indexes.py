"""The order indexes: the lists and counts the CLI, the console and health read, and their
retention trim (app/orders/store.py writes them with the records; app/orders/keys.py names them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from app.archive.db import Archive

import time
from collections.abc import Callable

from app.orders.keys import (
    ALL_KEY,
    CORRUPT_KEY,
    DEAD_KEY,
    FOUND_KEY,
    OPEN_KEY,
    RECONCILE_KEY,
    SCHEDULE_KEY,
    STATS_KEY,
    location_key,
)
from app.orders.lifecycle import Move
from app.redis_client import reply_scored as scored
from app.redis_client import reply_text as _text


class OrderIndexes:
    def __init__(self, redis: Redis, retention: int, now: Callable[[], float], archive: Archive | None = None):
        self.redis = redis
        self.retention = retention
        self.now = now  # Redis's clock (OrderStore.now)
        self.archive = archive  # app.archive.Archive, or None: nothing leaves Redis

    def open_orders(self, limit: int = 1000) -> list[tuple[str, float]]:
        return scored(self.redis.zrange(OPEN_KEY, 0, limit - 1, withscores=True))

    def recent(
        self, since: float = 0, limit: int = 100, location_id: str | None = None, newest_first: bool = False
    ) -> list[str]:
        """Orders created at `since` or later (at one location), oldest first unless `newest_first`;
        with an archive, its orders too (Redis read first: a moved order is in the archive by then)."""
        key = location_key(location_id) if location_id else ALL_KEY
        if newest_first:
            rows = self.redis.zrevrangebyscore(key, "+inf", since, start=0, num=limit, withscores=True)
        else:
            rows = self.redis.zrangebyscore(key, since, "+inf", start=0, num=limit, withscores=True)
        found = [(score, uid) for uid, score in scored(rows)]
        if self.archive is None:
            return [uid for _, uid in found]
        both = set(found) | set(self.archive.recent(since, limit, location_id, newest_first))
        return [uid for _, uid in sorted(both, reverse=newest_first)[:limit]]

    def open_count(self) -> int:
        return int(self.redis.zcard(OPEN_KEY))

    def dead_callback_count(self) -> int:
        return int(self.redis.zcard(DEAD_KEY))

    def dead_callbacks(self, limit: int = 100) -> list[tuple[str, float]]:
        return scored(self.redis.zrange(DEAD_KEY, 0, limit - 1, withscores=True))

    def reconcile_list(self, limit: int = 100) -> list[tuple[str, str, float]]:
        """(uid, 'open' | 'found', since): errored with pos_outcome_unknown and still looked up,
        or found at the POS after all."""
        rows = [(u, "found", s) for u, s in scored(self.redis.zrange(FOUND_KEY, 0, limit - 1, withscores=True))]
        rows += [(u, "open", s) for u, s in scored(self.redis.zrange(RECONCILE_KEY, 0, limit - 1, withscores=True))]
        return rows[:limit]

    def reconcile_counts(self) -> dict[str, int]:
        return {"open": int(self.redis.zcard(RECONCILE_KEY)), "found": int(self.redis.zcard(FOUND_KEY))}

    def corrupt_count(self) -> int:
        return int(self.redis.get(CORRUPT_KEY) or 0)

    def stats(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.redis.hgetall(STATS_KEY).items()}

    def oldest_open_age(self, now: float | None = None) -> float:
        oldest = scored(self.redis.zrange(OPEN_KEY, 0, 0, withscores=True))
        return max(0.0, (now or self.now()) - oldest[0][1]) if oldest else 0.0

    def overdue_orders(self, grace: float, limit: int = 1000) -> list[str]:
        """Open orders whose next move is due for more than `grace` seconds: nobody took them."""
        cutoff = (self.now() - grace) * 1000
        members = self.redis.zrangebyscore(SCHEDULE_KEY, "-inf", cutoff, start=0, num=limit)
        prefix = Move.ORDER.member("")
        return [_text(m).removeprefix(prefix) for m in members if _text(m).startswith(prefix)]

    def overdue_open(self, now: float | None = None) -> float:
        """Seconds the most overdue order move is past due (0 when none is)."""
        first = scored(self.redis.zrange(SCHEDULE_KEY, 0, 0, withscores=True))
        return max(0.0, (now or self.now()) - first[0][1] / 1000) if first else 0.0

    def trim(self, now: float | None = None) -> int:
        """Drop index entries older than the retention (the records expire by themselves)."""
        cutoff = (now or time.time()) - self.retention
        removed = self.redis.zremrangebyscore(ALL_KEY, "-inf", cutoff)
        for key in self.redis.scan_iter(match="orders:loc:*", count=500):
            removed += self.redis.zremrangebyscore(key, "-inf", cutoff)
        for key in (DEAD_KEY, FOUND_KEY, RECONCILE_KEY):
            self.redis.zremrangebyscore(key, "-inf", cutoff)
        for uid, _ in self.open_orders():
            if not self.redis.exists(f"order:{uid}"):
                self.redis.zrem(OPEN_KEY, uid)
        return int(removed)
