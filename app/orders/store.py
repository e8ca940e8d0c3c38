"""Order records in Redis, behind one interface: every write is a script of scripts.py.

Keys (records and histories expire after the retention period):
  order:{uid}            hash  status, fp, doc (the record as JSON), deadline and created (ms),
                               handed, validated, calls, o_claim/o_until (the move in flight),
                               cb, cb_attempts, cb_result, c_claim/c_until (its callback),
                               rc, rc_calls, r_claim/r_until (its reconciliation)
  order:{uid}:history    list  one JSON entry per event
  order:{uid}:moved      string  the fingerprint of an order just moved to the archive (a few minutes):
                               CREATE does not make it anew (app/archive/scripts.py)
  schedule               zset  Move.member(uid) ("o:{uid}" | "c:{uid}" | "r:{uid}") -> ms when that move is due
  schedule:queued        zset  member -> ms its task was sent (the sweep does not send it twice)
  orders:open            zset  uid -> created (s), orders not yet final
  orders:by_time         zset  uid -> created (s), every order (recent list, retention)
  orders:loc:{location}  zset  uid -> created (s) (the recovery list)
  orders:loc:{location}:{status}  zset  the same, of the orders in that status (its status filter)
  orders:reconcile       zset  uid -> errored (s): pos_outcome_unknown, still looked up
  orders:reconcile:found zset  uid -> found (s): the POS had it after all (on-call's list)
  callbacks:dead         zset  uid -> given up (s), kept for replay
  stats:orders           hash  "endpoint|status|path" -> count of final orders

Final orders older than ARCHIVE_AFTER_SECONDS move to the archive (app/archive/): `get`, `get_many`,
`history` and `field` read through to it, an archived order answered as confirmed (acked = status).

Request ids are 1-128 characters of A-Z a-z 0-9 . _ ~ - (schemas), so `order:{uid}` can never
name another order's key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

    from app.archive.db import Archive, Row

import contextlib
import logging
import math
import secrets
import time

import redis

from app import jsonio
from app.archive.restore import restore
from app.jsonio import Json
from app.orders import scripts
from app.orders.durability import PROBE_KEY, Durability
from app.orders.indexes import OrderIndexes
from app.orders.keys import (
    ALL_KEY,
    CORRUPT_KEY,
    DEAD_KEY,
    FOUND_KEY,
    LOCATION_KEY,
    LOCATION_STATUS_KEY,
    OPEN_KEY,
    QUEUED_KEY,
    RECONCILE_KEY,
    SCHEDULE_KEY,
    STATS_KEY,
    location_key,
)
from app.orders.lifecycle import Callback, Move, MoveResult, Status, Write
from app.orders.order import Claim, Created, Order, read_order
from app.redis_client import reply_text as _text

log = logging.getLogger(__name__)
# Redis is away, or cannot take writes (a demoted primary, a full one under noeviction): the errors
# that make a request's answer a 503 (app/errors.py), unless the order it concerns was already
# recorded durably (then it is a 202).
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
)
ORDER_FIELDS = scripts.FIELDS


def _key(uid: str) -> str:
    return f"order:{uid}"


def _settle_keys(uid: str, indexes: tuple[str, ...] = ()) -> list[str]:
    """scripts.SETTLE's KEYS (a final's status indexes last)."""
    return [_key(uid), f"{_key(uid)}:history", SCHEDULE_KEY, OPEN_KEY, STATS_KEY, RECONCILE_KEY, *indexes]


class OrderStore:
    def __init__(
        self,
        redis: Redis,
        *,
        retention_days: int = 30,
        durability: Durability | None = None,
        clock: Callable[[], float] | None = None,
        archive: Archive | None = None,
    ):
        self.redis = redis
        self.archive = archive  # app.archive.Archive, or None: nothing leaves Redis
        self.retention = int(retention_days * 86400)
        self.durability = durability or Durability()
        self.clock = clock  # tests only: otherwise every script reads Redis's TIME
        self.indexes = OrderIndexes(redis, self.retention, self.now, archive)
        self._scripts = {
            name: redis.register_script(getattr(scripts, name))
            for name in (
                "CREATE",
                "CLAIM",
                "SETTLE",
                "SETTLE_CALLBACK",
                "SETTLE_RECONCILE",
                "DISPATCH",
                "QUEUED",
                "REDRIVE",
                "REPLAY",
                "NOTE",
                "CONFIRMED",
                "DISCARD",
                "MAY_POST",
                "CALLBACK_MAY_SEND",
            )
        }

    def now_arg(self) -> str:
        """The `now` argument of a script: '' (Redis's TIME), or a test's clock in ms."""
        return "" if self.clock is None else str(int(self.clock() * 1000))

    def _run(self, name: str, keys: list[str], args: list[Any], client: Pipeline | None = None) -> Any:
        return self._scripts[name](keys=keys, args=[self.now_arg(), *args], client=client)

    def _order(self, uid: str, values: list[Any]) -> Order | None:
        """An Order from the HMGET of ORDER_FIELDS; None when there is none, or it cannot be read
        (counted and logged: one bad record never stops a reader)."""
        try:
            return read_order(uid, dict(zip(ORDER_FIELDS, (_text(v) for v in values), strict=True)))
        except (ValueError, TypeError) as exc:
            log.error("unreadable order record skipped", extra={"request_uid": uid, "error": type(exc).__name__})
            with contextlib.suppress(Exception):  # counting it must not stop the reader either
                self.redis.incr(CORRUPT_KEY)
            return None

    # -- creating ---------------------------------------------------------------------
    def create(
        self,
        uid: str,
        *,
        fp: str,
        doc_text: str,
        location: str,
        ttl_deadline: float | None,
        max_async: float,
        by: str,
        claim_seconds: float,
        menu_key: str,
        menu_version: str = "",
    ) -> tuple[Created, str]:
        """Record a new open order (`doc_text`: its record as JSON), claimed by its creator for
        `claim_seconds`, and read the location's menu in the same round trip (its bytes only if
        they are not `menu_version`, app/menus.py). Returns what is stored, and the claim token.
        `Created.acked` is 'pending' once the new record is confirmed durable (durability.py):
        under DURABILITY=replica that is this write and its WAIT together."""
        token = secrets.token_hex(8)
        keys = [
            _key(uid),
            f"{_key(uid)}:history",
            OPEN_KEY,
            ALL_KEY,
            LOCATION_KEY.format(location),
            SCHEDULE_KEY,
            menu_key,
            LOCATION_STATUS_KEY.format(location, Status.PENDING),
            f"{_key(uid)}:moved",
        ]
        args = [
            fp,
            doc_text,
            "" if ttl_deadline is None else int(ttl_deadline * 1000),
            int(max_async * 1000),
            self.retention,
            uid,
            by,
            token,
            int(claim_seconds * 1000),
            menu_version,
            "" if self.durability.waits else Status.PENDING,
        ]
        sent = time.monotonic()
        if not self.durability.waits:
            result = self._run("CREATE", keys, args)
        else:
            pipe = self.redis.pipeline(transaction=False)
            self._run("CREATE", keys, args, client=pipe)
            self.durability.after(pipe)
            results = pipe.execute()
            result = results[0]
            if int(result[0]) == 1 and self.durability.acknowledged(results):
                result = [*result[:7], Status.PENDING]
        received = time.monotonic()
        created, stored_fp, status, now, menu, deadline, version, acked = result
        return Created(
            bool(created),
            _text(stored_fp),
            _text(status),
            int(now) / 1000,
            menu or None,
            int(deadline) / 1000,
            _text(version),
            _text(acked),
            sent,
            received,
        ), token

    def discard(self, uid: str, token: str, location: str) -> bool:
        """Take back a record whose creation was not acknowledged (answered 503, nothing promised)."""
        keys = [
            _key(uid),
            f"{_key(uid)}:history",
            OPEN_KEY,
            ALL_KEY,
            location_key(location),
            location_key(location, Status.PENDING),
            SCHEDULE_KEY,
        ]
        return int(self._run("DISCARD", keys, [uid, token])) == 1

    # -- moves ------------------------------------------------------------------------
    def claim(self, kind: Move, uid: str, seconds: float) -> Claim:
        """Claim the due move of `kind` for `seconds`."""
        token = secrets.token_hex(8)
        sent = time.monotonic()
        result = self._run("CLAIM", [_key(uid), SCHEDULE_KEY, QUEUED_KEY], [kind, uid, token, int(seconds * 1000)])
        received, now = time.monotonic(), int(result[2]) / 1000
        if int(result[0]) != 1:
            until = (int(result[3]) / 1000) if len(result) > 3 else 0.0
            return Claim(MoveResult(_text(result[1])), now, until=until, sent=sent, received=received)
        order = self._order(uid, result[4])
        refused = None if order is not None else MoveResult.UNREADABLE
        return Claim(refused, now, until=int(result[3]) / 1000, token=token, order=order, sent=sent, received=received)

    def _settle(
        self,
        uid: str,
        token: str,
        by: str,
        note: str,
        what: Write,
        *extra: object,
        acked: str = "",
        durable: bool = False,
        indexes: tuple[str, ...] = (),
    ) -> tuple[Any, bool]:
        keys = _settle_keys(uid, indexes)
        args = [uid, token, by, note, what, acked, *extra]
        if not durable or not self.durability.waits:
            return self._run("SETTLE", keys, args), True
        pipe = self.redis.pipeline(transaction=False)
        self._run("SETTLE", keys, args, client=pipe)
        self.durability.after(pipe)
        results = pipe.execute()
        return results[0], self.durability.acknowledged(results)

    def finish(
        self,
        uid: str,
        token: str,
        *,
        doc: Json,
        by: str,
        note: str,
        endpoint: str = "submit",
        reconcile_in: float | None = None,
        listed: bool = True,
        decides_cancel: bool = False,
    ) -> tuple[bool, str, str, bool, bool]:
        """Make an open order final (doc['status']). With a callback_url its callback is owed from
        this write on, whoever writes it (every path that answered 202 is covered by it).
        `reconcile_in`: looked up at the POS from then on; `listed`: and on on-call's list.
        Returns (applied, previous status or why not, path, confirmed durable, callback owed now)."""
        status = doc["status"]
        result, acked = self._settle(
            uid,
            token,
            by,
            note,
            Write.FINAL,
            status,
            jsonio.dumps(doc),
            endpoint,
            "1" if doc.get("callback_url") else "0",
            "0" if reconcile_in is None else "1" if listed else "2",
            int((reconcile_in or 0) * 1000),
            "1" if decides_cancel else "0",
            acked="" if self.durability.waits else status,
            durable=True,
            indexes=self._indexes(doc, status),
        )
        applied = int(result[0]) == 1
        if not applied:
            return False, _text(result[1]), "", False, False
        return True, _text(result[1]), _text(result[2]), acked, _text(result[3]) == Callback.OWED

    def cancel(self, uid: str, doc: Json, by: str, reason: str) -> tuple[str, float, bool]:
        """Cancel an open order (posnext-api.md, Cancel): made `cancelled` (doc) at once when no
        POST can have been sent; else the cancel is recorded and its move made due. Returns
        (cancelled | requested | the final status it has | missing, when the cancel was
        requested (Unix s), confirmed durable)."""
        result, acked = self._settle(
            uid,
            "",
            by,
            reason or "cancelled",
            Write.CANCEL,
            Status.CANCELLED,
            jsonio.dumps(doc),
            "cancel",
            "1" if doc.get("callback_url") else "0",
            "0",
            0,
            "1",
            reason,
            acked="" if self.durability.waits else Status.CANCELLED,
            durable=True,
            indexes=self._indexes(doc, Status.CANCELLED),
        )
        if int(result[0]) != 1:
            return _text(result[1]), 0.0, False
        if _text(result[1]) == "requested":
            return "requested", int(result[2]) / 1000, acked
        return Status.CANCELLED, 0.0, acked

    @staticmethod
    def _indexes(doc: Json, status: str) -> tuple[str, ...]:
        location = doc.get("location_id")
        return (
            (LOCATION_STATUS_KEY.format(location, Status.PENDING), LOCATION_STATUS_KEY.format(location, status))
            if location
            else ()
        )

    def record_confirmed(self, uid: str, status: str) -> bool:
        """Record that the order's state was confirmed durable (after a WAIT that covered it), and,
        under DURABILITY=replica, wait for that mark as well: True once the mark is durable, so a
        replica lost later cannot turn an answered state back (finding 11)."""
        if not self.durability.waits:
            return True
        pipe = self.redis.pipeline(transaction=False)
        self._run("CONFIRMED", [_key(uid)], [status], client=pipe)
        self.durability.after(pipe)
        results = pipe.execute()
        return int(results[0]) == 1 and self.durability.acknowledged(results)

    def retry(self, uid: str, token: str, *, by: str, note: str, delay: float, latest: float | None = None) -> float:
        """Plan the order's next move `delay` seconds from now (never after `latest`); 0.0 if the
        claim was lost or the order is final. Returns when it is due."""
        result, _ = self._settle(
            uid, token, by, note, Write.RETRY, math.ceil(delay * 1000), "" if latest is None else int(latest * 1000)
        )
        return int(result[2]) / 1000 if int(result[0]) == 1 else 0.0

    def mark_validated(self, uid: str, token: str, *, by: str, pos_body: bytes, acked: str = "") -> MoveResult | None:
        """Validated, with the POS request every POST of this order sends (built once). None (the
        POST may go) only once that is durable too (DURABILITY=replica: its WAIT) and the first POST may go: no POST
        may go before it is, or a failover could lose that a POST was made. Under a WAIT, MAY_POST
        runs after it in the same round trip (CANCEL_REQUESTED: a cancel recorded meanwhile);
        without one nothing runs between this write and the POST. Else why not."""
        if not self.durability.waits:
            result, _ = self._settle(uid, token, by, "validated", Write.VALIDATED, pos_body, acked=acked)
            return None if int(result[0]) == 1 else MoveResult(_text(result[1]))
        pipe = self.redis.pipeline(transaction=False)
        self._run(
            "SETTLE", _settle_keys(uid), [uid, token, by, "validated", Write.VALIDATED, acked, pos_body], client=pipe
        )
        self.durability.after(pipe)
        self._run("MAY_POST", [_key(uid)], [token], client=pipe)
        *written, ready = pipe.execute()
        if int(written[0][0]) != 1:
            return MoveResult(_text(written[0][1]))
        if not self.durability.acknowledged(written):
            return MoveResult.NOT_DURABLE
        return MoveResult(_text(ready)) if _text(ready) else None

    def may_post(self, uid: str, token: str) -> MoveResult | None:
        """The check every POST passes just before it goes: None while `token` holds the order's
        claim and no cancel is recorded; else why not (CANCEL_REQUESTED, CLAIM_LOST, a final)."""
        ready = _text(self._run("MAY_POST", [_key(uid)], [token]))
        return MoveResult(ready) if ready else None

    def hand_off(self, uid: str, token: str, *, by: str, note: str = "handed to a worker", acked: str = "") -> bool:
        """The order's next move is due now, for a worker; False if it went final."""
        result, _ = self._settle(uid, token, by, note, Write.HANDOFF, 0, acked=acked)
        return int(result[0]) == 1

    def callback_may_send(self, uid: str, token: str, seconds: float) -> MoveResult | None:
        """The check every callback POST passes just before it goes, in one round trip: a probe and
        its WAIT (DURABILITY=replica: the replica holds the claim and the final), then
        scripts.CALLBACK_MAY_SEND on the same connection. None while `token` still holds the
        callback's claim for `seconds` more and the callback is still owed; NOT_DURABLE when no
        replica answered (or Redis did not); else why not (SETTLED, CLAIM_LOST, CLAIM_LAPSING, MISSING)."""
        pipe = self.redis.pipeline(transaction=False)
        if self.durability.waits:
            pipe.incr(PROBE_KEY)
            self.durability.after(pipe)
        self._run("CALLBACK_MAY_SEND", [_key(uid)], [token, math.ceil(seconds * 1000)], client=pipe)
        try:
            *written, verdict = pipe.execute()
        except UNAVAILABLE as exc:
            log.warning("callback not sent: Redis unavailable", extra={"request_uid": uid, "error": type(exc).__name__})
            return MoveResult.NOT_DURABLE
        if self.durability.waits and not self.durability.acknowledged(written):
            return MoveResult.NOT_DURABLE
        return MoveResult(_text(verdict)) if _text(verdict) else None

    def settle_callback(self, uid: str, token: str, *, outcome: MoveResult, delay: float, result_text: str) -> bool:
        result = self._run(
            "SETTLE_CALLBACK",
            [_key(uid), f"{_key(uid)}:history", SCHEDULE_KEY, DEAD_KEY],
            [uid, token, outcome, int(delay * 1000), result_text],
        )
        return int(result[0]) == 1

    def settle_reconcile(
        self, uid: str, token: str, *, outcome: MoveResult, delay: float = 0.0, pos_order_id: str = ""
    ) -> bool:
        result = self._run(
            "SETTLE_RECONCILE",
            [_key(uid), f"{_key(uid)}:history", SCHEDULE_KEY, RECONCILE_KEY, FOUND_KEY],
            [uid, token, outcome, int(delay * 1000), pos_order_id],
        )
        return int(result[0]) == 1

    def list_found(self, uid: str) -> None:
        """List an order for on-call among the placements found after the fact."""
        self.redis.zadd(FOUND_KEY, {uid: self.now()})

    def dispatch(self, limit: int, grace: float, waiting: str = "") -> list[tuple[Move, str]]:
        """Due moves never sent, or sent more than `grace` ago while their queue is empty (the
        task was lost): (kind, uid), each marked as sent. `waiting`: the move kinds whose queue
        has messages waiting."""
        _, members = self._run("DISPATCH", [SCHEDULE_KEY, QUEUED_KEY], [limit, int(grace * 1000), waiting])
        return [(Move(kind), uid) for kind, _, uid in (_text(m).partition(":") for m in members)]

    def mark_queued(self, kind: Move, uid: str) -> None:
        self._run("QUEUED", [QUEUED_KEY], [kind.member(uid)])

    def redrive(self, uid: str, by: str) -> tuple[bool, str]:
        result = self._run("REDRIVE", [_key(uid), f"{_key(uid)}:history", SCHEDULE_KEY], [uid, by])
        return int(result[0]) == 1, _text(result[1])

    def replay_callback(self, uid: str, by: str) -> tuple[bool, str]:
        """Owe the final order's callback again; an archived order is restored to Redis first
        (archive.restore: in both places until the mover moves it again)."""
        keys = [_key(uid), f"{_key(uid)}:history", SCHEDULE_KEY, DEAD_KEY]
        result = self._run("REPLAY", keys, [uid, by])
        if _text(result[1]) == "missing" and self.archive is not None and restore(self, uid):
            result = self._run("REPLAY", keys, [uid, by])
        return int(result[0]) == 1, _text(result[1])

    def note(self, uid: str, by: str, note: str) -> None:
        """A history entry on an existing order (an attempt's detail); creates nothing."""
        self._run("NOTE", [_key(uid), f"{_key(uid)}:history"], [by, note])

    # -- reads ------------------------------------------------------------------------
    def now(self) -> float:
        """Redis's clock (the one every decision is made on), in Unix seconds."""
        if self.clock is not None:
            return self.clock()
        seconds, micros = self.redis.time()
        return float(seconds + micros / 1e6)

    def get(self, uid: str) -> Order | None:
        order = self._order(uid, self.redis.hmget(_key(uid), ORDER_FIELDS))
        return order if order is not None or self.archive is None else self.archived(uid)

    def get_many(self, uids: list[str]) -> list[Order | None]:
        pipe = self.redis.pipeline(transaction=False)
        for uid in uids:
            pipe.hmget(_key(uid), ORDER_FIELDS)
        found = [self._order(uid, values) for uid, values in zip(uids, pipe.execute(), strict=True)]
        missing = [uid for uid, order in zip(uids, found, strict=True) if order is None]
        if not missing or self.archive is None:
            return found
        rows = self.archive.get_many(missing)  # ArchiveUnavailable: nothing may be said of these
        return [order or self._from_row(rows.get(uid)) for uid, order in zip(uids, found, strict=True)]

    def archived(self, uid: str) -> Order | None:
        """The order as the archive holds it (ArchiveUnavailable when it cannot answer)."""
        return self._from_row(self.archive.get(uid)) if self.archive is not None else None

    def _from_row(self, row: Row | None) -> Order | None:
        """An archived order: final and durable (acked = status), no POS body."""
        if row is None:
            return None
        order = self._order(row.uid, [row.record.get(name) for name in ORDER_FIELDS])
        if order is not None:
            order.acked, order.pos_body = order.status, b""
        return order

    def exists(self, uid: str) -> bool:
        return bool(self.redis.exists(_key(uid)))

    def field(self, uid: str, name: str) -> str:
        value = self.redis.hget(_key(uid), name)
        if value is None and self.archive is not None and not self.redis.exists(_key(uid)):
            row = self.archive.get(uid)
            return row.record.get(name, "") if row else ""
        return _text(value)

    def history(self, uid: str) -> list[Json]:
        out = []
        entries: list[Any] = list(self.redis.lrange(f"{_key(uid)}:history", 0, -1))
        if not entries and self.archive is not None and not self.redis.exists(_key(uid)):
            row = self.archive.get(uid)
            entries = row.history if row else []
        for entry in entries:
            try:
                out.append(jsonio.loads(entry))
            except ValueError:
                out.append({"note": "unreadable history entry"})
        return out

    def next_move(self, uid: str, kind: Move = Move.ORDER) -> float | None:
        score = self.redis.zscore(SCHEDULE_KEY, kind.member(uid))
        return None if score is None else float(score) / 1000
