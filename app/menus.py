"""The menu cache: one entry per location in Redis, refreshed by beat and on a miss.

An entry (the adapter's base.Menu plus `fetched_at`) has no expiry: when the POS is down the
last menu is served, with its age. A stale entry is served as it is on the request path and
refreshed by beat; only a missing one is fetched there, within the time the caller has left.
An unknown location is remembered for a minute so a flood of bad ids does not reach the POS,
and each client (the JWT's `sub`) may have at most UNKNOWN_PER_CLIENT fresh ids found unknown a
minute (`unknown_budget_spent`, `spend_unknown`): past that, a location not cached is refused
(429) before any POS call or Redis key, so fresh ids cost nothing without limit.

Each process keeps the entries it decoded, keyed by their version: the SHA-1 of the entry's
JSON, written by the writer in front of it in the same value (`v1:<sha1>\n<json>`, so bytes and
version can never be written apart), read by Redis in the same script that reads the entry
(READ, and the order store's CREATE); an entry without the prefix (written by an earlier
release, or by hand) gets its SHA-1 computed by Redis. A reader sends the version it holds; the
script answers Redis's version, and the bytes only when they differ. So a request never
decodes the same menu twice, and never uses a menu older than the one in Redis at the moment of
its read: a version is a function of the bytes, whoever wrote them. What a process holds is
bounded by bytes (HELD_BYTES, least recently used dropped first; none above HELD_ONE), under a
lock (gthread workers share it).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from app import jsonio
from app.pos.base import LocationUnknown, PosUnavailable
from app.redis_client import reply_text

log = logging.getLogger(__name__)
LOCATIONS_KEY = "menus:locations"
UNKNOWN_SECONDS = 60
UNKNOWN_PER_CLIENT = 20  # fresh location ids found unknown, per client, per UNKNOWN_SECONDS


class MenuUnavailable(Exception):
    """No menu is cached for the location and the POS cannot give one now."""


NOT_READ = object()  # MenuCache.get(raw=...): the caller has not read the entry from Redis
HELD_BYTES = 16 * 1024 * 1024  # the entries' bytes a process keeps decoded (about 5x that in objects)
HELD_ONE = 2 * 1024 * 1024  # an entry larger than this is decoded on every read, never held
PREFIX = b"v1:"  # PREFIX + 40 hex digits of SHA-1 + newline, then the entry's JSON

# The entry's version and, unless the caller holds that version, its bytes; with Redis's time.
# KEYS: menu; ARGV: now ('' = Redis's TIME; tests pass their clock), the version the caller holds
READ = """
local now
if ARGV[1] ~= '' then now = math.floor(tonumber(ARGV[1])) else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local menu = redis.call('GET', KEYS[1])
if not menu then return {now, '', false} end
local version = string.sub(menu, 1, 3) == 'v1:' and string.sub(menu, 4, 43) or redis.sha1hex(menu)
if version == ARGV[2] then return {now, version, false} end
return {now, version, menu}
"""


@dataclass(frozen=True)
class Held:
    """An entry this process decoded, and its version."""

    version: str
    entry: dict
    size: int = 0


@dataclass(frozen=True)
class Read:
    """What a versioned read found: the entry (None: none in Redis, or unreadable)."""

    entry: dict | None


@dataclass(frozen=True)
class Answered:
    """What a script that read the entry with its own write answered (scripts.CREATE): the
    entry's version, and its bytes unless `held` is that version. MenuCache.get accepts it."""

    held: Held | None
    version: str
    raw: bytes | None


def _key(location_id: str) -> str:
    return f"menu:{location_id}"


def _unknown_count_key(client: str) -> str:
    return "menus:unknown-by:" + hashlib.sha1(client.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


def menu_key(location_id: str) -> str:
    """The Redis key of a location's cached menu (a caller may read it with other keys)."""
    return _key(location_id)


class MenuCache:
    def __init__(self, redis, pos, refresh_seconds: int, clock=time.time):
        self.redis = redis
        self.pos = pos
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._held_bytes = 0
        self._lock = threading.Lock()
        self._read = redis.register_script(READ)

    # -- versioned reads (the request path) ---------------------------------------------------
    def held(self, location_id: str) -> Held | None:
        """The entry this process holds for the location, to send its version with a read."""
        return self._held.get(location_id)

    def accept(self, location_id: str, held: Held | None, version: str, raw) -> Read:
        """A script's answer (`version`, and `raw` bytes or None when it is `held`'s) as a Read.
        Never decodes bytes it holds already; never answers an entry of another version."""
        if not version:
            self._drop(location_id)
            return Read(None)
        if raw is None and held is not None and held.version == version:
            with self._lock:
                if location_id in self._held:
                    self._held.move_to_end(location_id)
            return Read(held.entry)
        entry = self._decode(raw)
        if entry is None or raw is None or len(raw) > HELD_ONE:
            self._drop(location_id)
        else:
            with self._lock:
                replaced = self._held.pop(location_id, None)
                self._held_bytes -= replaced.size if replaced is not None else 0
                self._held[location_id] = Held(version, entry, len(raw))
                self._held_bytes += len(raw)
                while self._held_bytes > HELD_BYTES and len(self._held) > 1:
                    _, dropped = self._held.popitem(last=False)
                    self._held_bytes -= dropped.size
        return Read(entry)

    def _drop(self, location_id: str) -> None:
        with self._lock:
            dropped = self._held.pop(location_id, None)
            if dropped is not None:
                self._held_bytes -= dropped.size

    def read(self, location_id: str, now_arg: str = "") -> tuple[float, Read]:
        """Redis's time (Unix seconds; `now_arg`: a test's clock in ms) and the location's entry,
        in one round trip."""
        held = self.held(location_id)
        now, version, raw = self._read(keys=[_key(location_id)], args=[now_arg, held.version if held else ""])
        return int(now) / 1000, self.accept(location_id, held, reply_text(version), raw or None)

    def cached(self, location_id: str) -> dict | None:
        return self._decode(self.cached_raw(location_id))

    def get(self, location_id: str, raw=NOT_READ, timeout: float | None = None) -> dict:
        """The location's menu: from the cache, else from the POS within `timeout` seconds.
        {"unknown": True} if the POS has no such location. `raw`: the cache entry as the
        caller just read it from Redis (bytes, None: not there; a versioned Read; or a script's Answered)."""
        if raw is NOT_READ:
            raw = self.read(location_id)[1]
        elif isinstance(raw, Answered):
            raw = self.accept(location_id, raw.held, raw.version, raw.raw)
        entry = raw.entry if isinstance(raw, Read) else self._decode(raw)
        if entry is None:
            if timeout is not None and timeout <= 0:
                raise MenuUnavailable("no menu cached and no time left to fetch one")
            return self.refresh(location_id, timeout)
        return entry

    def unknown_budget_spent(self, client: str) -> bool:
        """Whether the client has had UNKNOWN_PER_CLIENT fresh ids found unknown this minute."""
        return int(self.redis.get(_unknown_count_key(client)) or 0) >= UNKNOWN_PER_CLIENT

    def spend_unknown(self, client: str) -> None:
        """One fresh id of the client's found unknown (the count lives UNKNOWN_SECONDS from the first)."""
        key = _unknown_count_key(client)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, 0, ex=UNKNOWN_SECONDS, nx=True)  # not EXPIRE NX: Redis 6.2 has none (INCR keeps the TTL)
        pipe.incr(key)
        pipe.execute()

    def cached_raw(self, location_id: str):
        return self.redis.get(_key(location_id))

    @staticmethod
    def encode(entry: dict) -> bytes:
        """The value written to Redis: the version (SHA-1 of the JSON) in front of the JSON."""
        data = jsonio.dumps(entry).encode()
        return PREFIX + hashlib.sha1(data, usedforsecurity=False).hexdigest().encode() + b"\n" + data

    @staticmethod
    def _decode(raw) -> dict | None:
        if not raw:
            return None
        if isinstance(raw, str):
            raw = raw.encode()
        if raw.startswith(PREFIX):
            raw = raw[len(PREFIX) + 41 :]
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
            self.redis.set(_key(location_id), self.encode(entry), ex=UNKNOWN_SECONDS)
            self.redis.srem(LOCATIONS_KEY, location_id)
            return entry
        except PosUnavailable as exc:
            kept = self._decode(self.cached_raw(location_id))
            if fallback and kept is not None and not kept.get("unknown"):
                return kept
            raise MenuUnavailable(str(exc)) from None
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(_key(location_id), self.encode(entry))
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
