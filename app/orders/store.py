"""Order records in Redis: atomic creation, transitions, leases, indexes, retention.

Keys (all expire after the retention period):
  order:{uid}            hash  status, fp, doc (the record as JSON), deadline, created,
                               handed_off, attempts, next_at, callback (JSON)
  order:{uid}:history    list  one JSON entry per transition
  order:{uid}:lease      str   the token of whoever may call the POS for this order now
  orders:open            zset  uid -> created, for orders not yet final (the sweep's list)
  orders:by_time         zset  uid -> created, every order (recent list, retention)
  orders:loc:{location}  zset  uid -> created (the recovery list)
  callbacks:dead         zset  uid -> time a callback was given up on (replayable)
  callbacks:pending      zset  uid -> when a callback owed and not yet settled is overdue (the sweep re-sends)
  stats:orders           hash  "endpoint|status|path" -> count of final orders

Every write that changes an order's status is one Lua script: a final status never changes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from app import jsonio

FINAL = ("placed", "errored", "rejected", "cancelled")
OPEN_KEY, ALL_KEY, DEAD_KEY, STATS_KEY = "orders:open", "orders:by_time", "callbacks:dead", "stats:orders"
PENDING_CALLBACKS_KEY = "callbacks:pending"

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'fp'), redis.call('HGET', KEYS[1], 'status')}
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'fp', ARGV[1], 'doc', ARGV[2], 'deadline', ARGV[4],
           'created', ARGV[5], 'handed_off', '0', 'attempts', '0', 'next_at', '0')
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('RPUSH', KEYS[2], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[8])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[8])
return {1, ARGV[1], ARGV[3]}
"""

# KEYS: order, history, open, stats, pending callbacks; ARGV: to, doc, history entry, uid, final?, endpoint,
# from-list, when a callback owed by a handed-off order is overdue ('' for none)
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {-1, ''} end
if current == 'placed' or current == 'errored' or current == 'rejected' or current == 'cancelled' then
  return {0, current}
end
if ARGV[7] ~= '' and not string.find(',' .. ARGV[7] .. ',', ',' .. current .. ',', 1, true) then
  return {0, current}
end
local handed = redis.call('HGET', KEYS[1], 'handed_off')
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'doc', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
if ARGV[5] == '1' then
  local path = 'inline'
  if handed == '1' then path = 'worker' end
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('HINCRBY', KEYS[4], ARGV[6] .. '|' .. ARGV[1] .. '|' .. path, 1)
  if handed == '1' and ARGV[8] ~= '' then redis.call('ZADD', KEYS[5], ARGV[8], ARGV[4]) end
end
return {1, current, handed}
"""

# KEYS: order, history; ARGV: next_at, entry. Marks an open order as answered with 202.
_HANDOFF = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {-1, ''} end
if current == 'placed' or current == 'errored' or current == 'rejected' or current == 'cancelled' then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'handed_off', '1', 'next_at', ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[2])
return {1, current}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Order:
    uid: str
    status: str
    doc: dict
    fp: str
    deadline: float
    created: float
    handed_off: bool
    attempts: int
    next_at: float
    callback: dict | None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def path(self) -> str:
        return "worker" if self.handed_off else "inline"


ORDER_FIELDS = ("status", "doc", "fp", "deadline", "created", "handed_off", "attempts", "next_at", "callback")


def _order(uid: str, values: list) -> Order | None:
    """An Order from the HMGET of ORDER_FIELDS; None when there is no such order."""
    if values[0] is None or values[1] is None:
        return None
    raw = dict(zip(ORDER_FIELDS, (_text(v) for v in values), strict=True))
    return Order(uid=uid, status=raw["status"], doc=jsonio.loads(raw["doc"]), fp=raw["fp"],
                 deadline=float(raw["deadline"] or 0), created=float(raw["created"] or 0),
                 handed_off=raw["handed_off"] == "1", attempts=int(raw["attempts"] or 0),
                 next_at=float(raw["next_at"] or 0),
                 callback=jsonio.loads(raw["callback"]) if raw["callback"] else None)


# _CREATE, then one more key read (the location's menu), in one round trip: the key is the last.
_CREATE_AND_GET = "local function create()\n" + _CREATE + "end\n" + """
local created = create()
return {created, redis.call('GET', KEYS[#KEYS])}
"""

# _TRANSITION, then the lease taken and the order read as it then is, in one round trip (a
# submit that passed validation goes straight to the POS). The lease key is the last key, its
# token and milliseconds the last two arguments.
_TRANSITION_AND_LEASE = "local function transition()\n" + _TRANSITION + "end\n" + """
local moved = transition()
local leased = redis.call('SET', KEYS[#KEYS], ARGV[#ARGV - 1], 'NX', 'PX', ARGV[#ARGV])
return {moved, leased and 1 or 0, redis.call('HMGET', KEYS[1], FIELDS)}
""".replace("FIELDS", ", ".join(f"'{name}'" for name in ORDER_FIELDS))


def fingerprint(request: dict) -> str:
    """Two submits are "the same payload" when their loaded bodies are equal."""
    ignored = ("received_at", "completed_at")
    body = {k: v for k, v in request.items() if k not in ignored}
    return hashlib.sha256(jsonio.canonical(body).encode()).hexdigest()


def _key(uid: str) -> str:
    return f"order:{uid}"


def history_entry(status: str, by: str, note: str = "", at: float | None = None) -> str:
    entry = {"at": round(at or time.time(), 3), "status": status, "by": by}
    if note:
        entry["note"] = note
    return jsonio.dumps(entry)


class OrderStore:
    def __init__(self, redis, retention_days: int = 30):
        self.redis = redis
        self.retention = int(retention_days * 86400)
        self._create = redis.register_script(_CREATE)
        self._transition = redis.register_script(_TRANSITION)
        self._transition_and_lease = redis.register_script(_TRANSITION_AND_LEASE)
        self._create_and_get = redis.register_script(_CREATE_AND_GET)
        self._handoff = redis.register_script(_HANDOFF)
        self._release = redis.register_script(_RELEASE)

    # -- writes ---------------------------------------------------------------------
    def create(self, uid: str, fp: str, doc: dict, deadline: float, by: str,
               now: float | None = None) -> tuple[bool, str, str]:
        """Record a new, open order. Returns (created, fingerprint, status) of the stored one."""
        keys, args = self._create_call(uid, fp, doc, deadline, by, now or time.time())
        created, stored_fp, stored_status = self._create(keys=keys, args=args)
        return bool(created), _text(stored_fp), _text(stored_status)

    def create_and_get(self, uid: str, fp: str, doc: dict, deadline: float, by: str, now: float,
                       key: str) -> tuple[bool, str, str, bytes | None]:
        """create(), and the value of `key` (a menu) read in the same round trip."""
        keys, args = self._create_call(uid, fp, doc, deadline, by, now)
        (created, stored_fp, stored_status), value = self._create_and_get(keys=[*keys, key], args=args)
        return bool(created), _text(stored_fp), _text(stored_status), value or None

    def _create_call(self, uid, fp, doc, deadline, by, now) -> tuple[list, list]:
        status = doc["status"]
        return ([_key(uid), f"{_key(uid)}:history", OPEN_KEY, ALL_KEY, f"orders:loc:{doc.get('location_id')}"],
                [fp, jsonio.dumps(doc), status, deadline, now, self.retention,
                 history_entry(status, by, "received", now), uid])

    def transition(self, uid: str, doc: dict, by: str, note: str = "",
                   only_from: tuple[str, ...] = (), endpoint: str = "submit",
                   callback_due: float | None = None) -> tuple[bool, str, bool]:
        """Move a not-yet-final order to doc['status'].

        Returns (applied, previous status, handed_off). Never changes a final order. With
        `callback_due`, a handed-off order made final owes a callback, listed in the same write.
        """
        keys, args = self._transition_call(uid, doc, by, note, only_from, endpoint, callback_due)
        result = self._transition(keys=keys, args=args)
        applied = int(result[0]) == 1
        handed = applied and len(result) > 2 and _text(result[2]) == "1"
        return applied, _text(result[1]), handed

    @staticmethod
    def _transition_call(uid, doc, by, note, only_from, endpoint, callback_due) -> tuple[list, list]:
        status = doc["status"]
        return ([_key(uid), f"{_key(uid)}:history", OPEN_KEY, STATS_KEY, PENDING_CALLBACKS_KEY],
                [status, jsonio.dumps(doc), history_entry(status, by, note), uid,
                 "1" if status in FINAL else "0", endpoint,
                 ",".join(only_from), "" if callback_due is None else callback_due])

    def transition_and_acquire(self, uid: str, doc: dict, by: str, note: str, only_from: tuple[str, ...],
                               seconds: float) -> tuple[str | None, Order | None]:
        """transition(), then acquire_and_get(), in one atomic round trip."""
        token = secrets.token_hex(8)
        keys, args = self._transition_call(uid, doc, by, note, only_from, "submit", None)
        _, leased, values = self._transition_and_lease(keys=[*keys, f"{_key(uid)}:lease"],
                                                       args=[*args, token, int(seconds * 1000)])
        return (token if int(leased) == 1 else None), _order(uid, values)

    def hand_off(self, uid: str, next_at: float, by: str) -> bool:
        """Mark the order as answered with 202; False if it became final first."""
        result = self._handoff(keys=[_key(uid), f"{_key(uid)}:history"],
                               args=[next_at, history_entry("pending", by, "handed to a worker")])
        return int(result[0]) == 1

    def note(self, uid: str, by: str, note: str, **fields) -> None:
        """Record an event that is not a transition (an attempt, a scheduled retry)."""
        pipe = self.redis.pipeline(transaction=True)
        if fields:
            pipe.hset(_key(uid), mapping={k: v if isinstance(v, (int, float, str)) else jsonio.dumps(v)
                                           for k, v in fields.items()})
        pipe.rpush(f"{_key(uid)}:history", history_entry(self._status(uid), by, note))
        pipe.execute()

    def count_attempt(self, uid: str) -> int:
        return int(self.redis.hincrby(_key(uid), "attempts", 1))

    def set_callback(self, uid: str, state: dict, dead: bool | None = None, due: float | None = None) -> None:
        """Record a delivery's outcome; `due`: when the retry is overdue (else the callback is settled)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(_key(uid), "callback", jsonio.dumps(state))
        if dead is True:
            pipe.zadd(DEAD_KEY, {uid: time.time()})
        elif dead is False:
            pipe.zrem(DEAD_KEY, uid)
        if due is None:
            pipe.zrem(PENDING_CALLBACKS_KEY, uid)
        else:
            pipe.zadd(PENDING_CALLBACKS_KEY, {uid: due})
        pipe.execute()

    def due_callbacks(self, now: float, until: float, limit: int = 1000) -> list[str]:
        """Owed callbacks overdue at `now` (their task was lost); each is pushed back to `until`."""
        uids = [_text(u) for u in self.redis.zrangebyscore(PENDING_CALLBACKS_KEY, "-inf", now, start=0, num=limit)]
        if uids:
            self.redis.zadd(PENDING_CALLBACKS_KEY, dict.fromkeys(uids, until), xx=True)
        return uids

    # -- leases ---------------------------------------------------------------------
    def acquire(self, uid: str, seconds: float) -> str | None:
        token = secrets.token_hex(8)
        if self.redis.set(f"{_key(uid)}:lease", token, nx=True, px=int(seconds * 1000)):
            return token
        return None

    def release(self, uid: str, token: str) -> None:
        self._release(keys=[f"{_key(uid)}:lease"], args=[token])

    def lease_left(self, uid: str) -> float:
        left = self.redis.pttl(f"{_key(uid)}:lease")
        return max(left, 0) / 1000.0

    # -- reads ----------------------------------------------------------------------
    def _status(self, uid: str) -> str:
        return _text(self.redis.hget(_key(uid), "status")) or "unknown"

    def acquire_and_get(self, uid: str, seconds: float) -> tuple[str | None, Order | None]:
        """acquire() and the order as it is once the lease is taken, in one round trip."""
        token = secrets.token_hex(8)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(f"{_key(uid)}:lease", token, nx=True, px=int(seconds * 1000))
        pipe.hmget(_key(uid), ORDER_FIELDS)
        acquired, values = pipe.execute()
        return (token if acquired else None), _order(uid, values)

    @staticmethod
    def as_created(uid: str, fp: str, doc: dict, deadline: float, now: float) -> Order:
        """The order exactly as get() reads it right after create() recorded it (no round trip)."""
        return Order(uid=uid, status=doc["status"], doc=jsonio.loads(jsonio.dumps(doc)), fp=fp,
                     deadline=float(deadline), created=float(now), handed_off=False, attempts=0, next_at=0.0,
                     callback=None)

    def get(self, uid: str) -> Order | None:
        return _order(uid, self.redis.hmget(_key(uid), ORDER_FIELDS))

    def history(self, uid: str) -> list[dict]:
        return [jsonio.loads(entry) for entry in self.redis.lrange(f"{_key(uid)}:history", 0, -1)]

    def open_orders(self, limit: int = 1000) -> list[tuple[str, float]]:
        return [(_text(u), s) for u, s in self.redis.zrange(OPEN_KEY, 0, limit - 1, withscores=True)]

    def recent(self, since: float = 0, limit: int = 100, location_id: str | None = None,
               newest_first: bool = False) -> list[str]:
        """Orders created at `since` or later (at one location), oldest first unless `newest_first`."""
        key = f"orders:loc:{location_id}" if location_id else ALL_KEY
        if newest_first:
            return [_text(u) for u in self.redis.zrevrangebyscore(key, "+inf", since, start=0, num=limit)]
        return [_text(u) for u in self.redis.zrangebyscore(key, since, "+inf", start=0, num=limit)]

    def open_count(self) -> int:
        return int(self.redis.zcard(OPEN_KEY))

    def dead_callback_count(self) -> int:
        return int(self.redis.zcard(DEAD_KEY))

    def dead_callbacks(self, limit: int = 100) -> list[tuple[str, float]]:
        return [(_text(u), s) for u, s in self.redis.zrange(DEAD_KEY, 0, limit - 1, withscores=True)]

    def stats(self) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.redis.hgetall(STATS_KEY).items()}

    def oldest_open_age(self, now: float | None = None) -> float:
        oldest = self.redis.zrange(OPEN_KEY, 0, 0, withscores=True)
        return max(0.0, (now or time.time()) - oldest[0][1]) if oldest else 0.0

    def trim(self, now: float | None = None) -> int:
        """Drop index entries older than the retention (the records expire by themselves)."""
        cutoff = (now or time.time()) - self.retention
        removed = self.redis.zremrangebyscore(ALL_KEY, "-inf", cutoff)
        for key in self.redis.scan_iter(match="orders:loc:*", count=500):
            removed += self.redis.zremrangebyscore(key, "-inf", cutoff)
        self.redis.zremrangebyscore(DEAD_KEY, "-inf", cutoff)
        for uid, _ in self.open_orders():
            if not self.redis.exists(_key(uid)):
                self.redis.zrem(OPEN_KEY, uid)
        return int(removed)


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
