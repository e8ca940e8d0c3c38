"""The menu cache: one entry per location in Redis, refreshed by beat and on a miss.

An entry (the adapter's base.Menu plus `fetched_at`) has no expiry: when the POS is down the
last menu is served, with its age. A stale entry is served as it is on the request path and
refreshed by beat; only a missing one is fetched there, within the time the caller has left.
An unknown location is remembered for a minute so a flood of bad ids does not reach the POS.
"""

from __future__ import annotations

import logging
import time

from app import jsonio
from app.pos.base import LocationUnknown, PosUnavailable

log = logging.getLogger(__name__)
LOCATIONS_KEY = "menus:locations"
UNKNOWN_SECONDS = 60


class MenuUnavailable(Exception):
    """No menu is cached for the location and the POS cannot give one now."""


NOT_READ = object()  # MenuCache.get(raw=...): the caller has not read the entry from Redis


def _key(location_id: str) -> str:
    return f"menu:{location_id}"


def menu_key(location_id: str) -> str:
    """The Redis key of a location's cached menu (a caller may read it with other keys)."""
    return _key(location_id)


class MenuCache:
    def __init__(self, redis, pos, refresh_seconds: int, clock=time.time):
        self.redis = redis
        self.pos = pos
        self.refresh_seconds = refresh_seconds
        self.clock = clock

    def cached(self, location_id: str) -> dict | None:
        return self._decode(self.cached_raw(location_id))

    def get(self, location_id: str, raw=NOT_READ, timeout: float | None = None) -> dict:
        """The location's menu: from the cache, else from the POS within `timeout` seconds.
        {"unknown": True} if the POS has no such location. `raw`: the cache entry as the
        caller just read it from Redis (None: not there)."""
        entry = self._decode(self.cached_raw(location_id) if raw is NOT_READ else raw)
        if entry is None:
            if timeout is not None and timeout <= 0:
                raise MenuUnavailable("no menu cached and no time left to fetch one")
            return self.refresh(location_id, timeout)
        return entry

    def cached_raw(self, location_id: str):
        return self.redis.get(_key(location_id))

    @staticmethod
    def _decode(raw) -> dict | None:
        if not raw:
            return None
        try:
            entry = jsonio.loads(raw)
        except ValueError:
            return None  # an unreadable entry is fetched again, like a missing one
        return entry if isinstance(entry, dict) else None

    def refresh(self, location_id: str, timeout: float | None = None, fallback: bool = True) -> dict:
        """Fetch the location's menu and cache it. When the POS cannot answer: the cached entry
        if `fallback` and there is one, else MenuUnavailable."""
        now = self.clock()
        try:
            entry = dict(self.pos.get_menu(location_id, timeout), fetched_at=now)
        except LocationUnknown:
            entry = {"unknown": True, "location_id": location_id, "fetched_at": now}
            self.redis.set(_key(location_id), jsonio.dumps(entry), ex=UNKNOWN_SECONDS)
            self.redis.srem(LOCATIONS_KEY, location_id)
            return entry
        except PosUnavailable as exc:
            entry = self._decode(self.cached_raw(location_id))
            if fallback and entry is not None and not entry.get("unknown"):
                return entry
            raise MenuUnavailable(str(exc)) from None
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_key(location_id), jsonio.dumps(entry))
        pipe.sadd(LOCATIONS_KEY, location_id)
        pipe.execute()
        return entry

    def locations(self) -> list[str]:
        return sorted(v.decode() if isinstance(v, bytes) else v for v in self.redis.smembers(LOCATIONS_KEY))

    def refresh_all(self) -> dict[str, str]:
        results = {}
        for location_id in self.locations():
            try:
                entry = self.refresh(location_id, fallback=False)
                results[location_id] = "unknown" if entry.get("unknown") else "ok"
            except MenuUnavailable:
                results[location_id] = "unavailable"
        return results

    def age(self, entry: dict) -> float:
        return max(0.0, self.clock() - float(entry.get("fetched_at") or 0))

    def public(self, entry: dict) -> dict:
        """The entry as /posnext/menus serves it: money in major units, age and staleness."""
        age = self.age(entry)
        items = []
        for item in entry["items"].values():
            shown = dict(item)
            shown["price"] = jsonio.cents_to_money(item.get("price") or 0)
            items.append(shown)
        return {
            "location_id": entry["location_id"],
            "location": entry["location"],
            "updated_at": entry.get("updated_at"),
            "fetched_at": jsonio.iso(entry["fetched_at"]),
            "age_seconds": round(age, 3),
            "stale": age > 2 * self.refresh_seconds,
            "items": items,
        }
