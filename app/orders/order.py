"""An order as the store reads it back (Order), what creating one found (Created), and a claimed
move (Claim): plain records, no Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import jsonio
from app.jsonio import Json
from app.orders.lifecycle import FINAL, Callback, MoveResult, Reconcile, Status


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


@dataclass(frozen=True)
class Created:
    created: bool
    fp: str
    status: str
    now: float
    menu: bytes | None  # None: no menu, or the version the caller holds (menu_version)
    deadline: float
    menu_version: str = ""  # '' when no menu is cached
    acked: str = ""  # of a record found already there: the state confirmed durable ('' none)


@dataclass(frozen=True)
class Claim:
    """A claimed move (`refused` None), or why there is none: missing, settled, busy, not_due."""

    refused: MoveResult | None
    now: float
    until: float = 0.0
    token: str = ""
    order: Order | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None


def scored(rows: Any) -> list[tuple[str, float]]:
    """A sorted set's reply WITHSCORES as (member, score): redis-py types that reply loosely."""
    return [(text(member), float(score)) for member, score in rows]


def text(value: object) -> str:
    """A Redis reply as text ('' for none)."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


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
