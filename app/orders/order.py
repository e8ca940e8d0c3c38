"""An order record: built from a request (`new_record`, `fingerprint`, `ttl_deadline`), read
back from the store (Order), shown to PAR (`view`); what creating one found (Created), and a
claimed move (Claim). Plain records and pure functions, no Redis."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import timedelta

from app import jsonio
from app.jsonio import Json
from app.orders.lifecycle import FINAL, Callback, MoveResult, Reconcile, Status
from app.times import format_time, parse_time


@dataclass
class Order:
    uid: str
    status: Status
    doc: Json
    fp: str
    deadline: float  # Unix seconds, on Redis's clock
    created: float
    handed_off: bool
    validated: bool
    calls: int
    callback: Callback = Callback.NONE
    callback_attempts: int = 0
    reconcile: Reconcile = Reconcile.NONE
    callback_by: str = ""
    acked: str = ""  # the state the Redis that holds it confirmed (durability.py): '' none yet
    pos_body: bytes = b""  # the POS request, built once when validated; b"": no POST can have been sent
    cancel_requested_at: float | None = None  # a cancel recorded while a POST may have reached the POS

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def confirmed(self) -> bool:
        """Its current state was confirmed durable (or its record was, while it is pending)."""
        return self.acked == self.status or (self.acked != "" and not self.final)

    @property
    def path(self) -> str:
        return "worker" if self.handed_off else "inline"


class RedisTime:
    """Redis's time as a reader of a script's answer knows it. `now`: the TIME the script read;
    `sent`, `received`: this process's monotonic clock when the script was sent and when its
    answer was read. Between the two, when TIME was read is unknown: both bounds are kept."""

    now: float
    sent: float
    received: float

    def redis_now(self) -> float:
        """Redis's time now at the latest: never behind Redis's own clock, however long the
        answer took (a durability WAIT, a client retry, a slow link). Deadlines and claims
        reckoned with it end early, never late."""
        return self.now + (time.monotonic() - self.sent)

    def redis_stamp(self) -> float:
        """Redis's time now at the earliest: never ahead of Redis's clock. The time written into
        a record (completed_at) is never after the write that records it, and a wait for a
        moment is never cut short."""
        return self.now + (time.monotonic() - self.received)


@dataclass(frozen=True)
class Created(RedisTime):
    created: bool
    fp: str
    status: str
    now: float
    menu: bytes | None  # None: no menu, or the version the caller holds (menu_version)
    deadline: float
    menu_version: str = ""  # '' when no menu is cached
    acked: str = ""  # of a record found already there: the state confirmed durable ('' none)
    sent: float = field(default_factory=time.monotonic)  # when CREATE was sent (RedisTime)
    received: float = field(default_factory=time.monotonic)  # ... and when its answer was read


@dataclass(frozen=True)
class Claim(RedisTime):
    """A claimed move (`refused` None), or why there is none: missing, settled, busy, not_due."""

    refused: MoveResult | None
    now: float
    until: float = 0.0
    token: str = ""
    order: Order | None = None
    sent: float = field(default_factory=time.monotonic)  # when CLAIM was sent (RedisTime)
    received: float = field(default_factory=time.monotonic)  # ... and when its answer was read

    @property
    def ok(self) -> bool:
        return self.refused is None

    def seconds_left(self, margin: float) -> float:
        """The claim's time left at the latest reckoning of now, `margin` kept back."""
        return self.until - margin - self.redis_now()


def read_order(uid: str, raw: dict[str, str]) -> Order | None:
    """An Order from its record's fields (scripts.FIELDS, as text); None when there is none.
    ValueError or TypeError: the record cannot be read."""
    if not raw["status"] or not raw["doc"]:
        return None
    return Order(
        uid=uid,
        status=Status(raw["status"]),
        doc=jsonio.loads(raw["doc"]),
        fp=raw["fp"],
        deadline=float(raw["deadline"] or 0) / 1000,
        created=float(raw["created"] or 0) / 1000,
        handed_off=raw["handed"] == "1",
        validated=raw["validated"] == "1",
        calls=int(raw["calls"] or 0),
        callback=Callback(raw["cb"]),
        callback_attempts=int(raw["cb_attempts"] or 0),
        reconcile=Reconcile(raw["rc"]),
        callback_by=raw["cb_by"],
        acked=raw["acked"],
        pos_body=raw["pos_body"].encode(),
        cancel_requested_at=int(raw["cx_at"]) / 1000 if raw["cx"] == "requested" else None,
    )


REQUEST_FIELDS = (
    "request_uid",
    "request_type",
    "request_datetime",
    "location_id",
    "schedule_type",
    "callback_url",
    "ttl",
    "order_details",
)


def new_record(request: Json, arrived: float, totals: Json | None = None) -> Json:
    doc = {name: request.get(name) for name in REQUEST_FIELDS}
    details = dict(request["order_details"])
    for name, value in (totals or {}).items():
        details[name] = value
    doc.update(
        order_details=details, status=Status.PENDING, errors=[], received_at=format_time(arrived), completed_at=None
    )
    return doc


def fingerprint(request: Json) -> str:
    """Two submits are "the same payload" when their loaded bodies are equal."""
    ignored = ("received_at", "completed_at")
    body = {k: v for k, v in request.items() if k not in ignored}
    return hashlib.sha256(jsonio.canonical(body).encode()).hexdigest()


def view(doc: Json) -> Json:
    """The record as PAR sees it (polling, submit, callbacks): internal fields left out."""
    return {k: v for k, v in doc.items() if v is not None or k == "completed_at"}


def ttl_deadline(request: Json) -> float | None:
    """The order's ttl as a Unix time (request_datetime + ttl), or None without a ttl. The
    engine caps it at ORDER_MAX_ASYNC_SECONDS after arrival, on Redis's clock (scripts.CREATE)."""
    sent = parse_time(request.get("request_datetime"))
    if request.get("ttl") and sent is not None:
        return (sent + timedelta(seconds=request["ttl"])).timestamp()
    return None
