"""A programmable POS adapter and a task recorder, for the unit layer."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import replace
from typing import ClassVar

from app.orders.lifecycle import Move
from app.pos import wire
from app.pos.base import (
    Expired,
    KeyUsed,
    LocationUnknown,
    NotVoidable,
    Placed,
    PosUnavailable,
    Transient,
    VoidBy,
    Voided,
    VoidedKey,
)
from app.pos.rest import normalise_menu
from possim.seed import SEED


def seeded_menu(location_id: str) -> tuple[dict, dict]:
    """The simulator's seeded location and menu, as the REST adapter would return them."""
    entry = SEED["locations"][location_id]
    location = {"location_id": location_id, **{k: v for k, v in entry.items() if k not in ("items", "updated_at")}}
    return location, {"location_id": location_id, "updated_at": entry.get("updated_at"), "items": entry["items"]}


class FakePos:
    """A PosAdapter (app/pos/base.py) in memory, the whole protocol. By default it behaves as
    the REST POS: placed once per key, never after the body's not_after; the same key with
    another body is KeyUsed; a void by key voids the order, or closes the key before one exists
    (a POST held in `delay` then gets VoidedKey). Knobs:
    - outcomes: a queue of outcomes the next POSTs answer instead (Refused(...), KeyUsed(), ...);
    - enforces_not_after False: creates after not_after, as a POS without the field would;
    - voids: "key", "pos_order_id" (no key closing) or "none" (every void is NotVoidable);
    - refuse_voids: every void of an order is NotVoidable; void_window: seconds after creation
      an order can still be voided;
    - down, lookup_down, void_down, delay (seconds each POST sleeps before it is processed).
    Records every call (`calls`, `timeouts`) and every body sent (`bodies`, bytes with the key)."""

    enforces_not_after: bool = True  # the class's declaration; an instance may be made otherwise
    voids: VoidBy = "key"

    def __init__(self, clock=time.time, enforces_not_after: bool = True, voids: VoidBy = "key"):
        self.enforces_not_after = enforces_not_after
        self.voids = voids
        self.refuse_voids = False
        self.void_window = math.inf
        self.outcomes: deque = deque()
        self.placed: dict[str, Placed] = {}
        self.created_at: dict[str, float] = {}
        self.made_from: dict[str, bytes] = {}  # the body that made each key's order
        self.voided: set[str] = set()  # keys voided or closed by a void
        self.bodies: list[tuple[str, bytes]] = []
        self.calls: list[tuple[str, str]] = []
        self.timeouts: list[float | None] = []
        self.down = False
        self.delay = 0.0
        self.lookup_down = False
        self.void_down = False
        self.clock = clock
        self.lock = threading.Lock()

    def get_menu(self, location_id: str, timeout: float | None = None) -> dict:
        self.calls.append(("menu", location_id))
        self.timeouts.append(timeout)
        if self.down:
            raise PosUnavailable("down")
        try:
            location, menu = seeded_menu(location_id)
        except KeyError:
            raise LocationUnknown(location_id) from None
        return normalise_menu(location, menu)

    def find_order(self, external_id: str, timeout: float | None = None):
        self.calls.append(("lookup", external_id))
        self.timeouts.append(timeout)
        if self.lookup_down or self.down:
            raise PosUnavailable("down")
        with self.lock:
            placed = self.placed.get(external_id)
            if placed is None:
                return None
            return replace(
                placed,
                replayed=True,
                created_at=self.created_at.get(external_id, placed.created_at),
                voided=external_id in self.voided,
            )

    def order_body(self, order: dict, not_after: float) -> bytes:
        return wire.order_body(order, not_after)

    def place_order(self, order: dict, not_after: float, timeout: float):
        return self.send_order(order["request_uid"], self.order_body(order, not_after), timeout)

    def send_order(self, key: str, body: bytes, timeout: float):
        self.calls.append(("place", key))
        self.timeouts.append(timeout)
        self.bodies.append((key, body))
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            now = self.clock()
            outcome = self.outcomes.popleft() if self.outcomes else None
            if outcome is None:
                if key in self.voided:
                    return VoidedKey()
                if key in self.placed:
                    made = self.made_from.get(key)
                    return KeyUsed() if made is not None and made != body else self.placed[key]
                fields = json.loads(body)
                not_after = wire.unix_time(fields.get("not_after"))
                if self.enforces_not_after and not_after is not None and now > not_after:
                    return Expired()
                outcome = Placed(f"P-{len(self.placed) + 1:06d}", fields["totals"]["grand_total"], created_at=now)
            if isinstance(outcome, Placed):
                outcome = self.placed.setdefault(key, outcome)
                self.created_at.setdefault(key, outcome.created_at or now)
                self.made_from.setdefault(key, body)
            return outcome

    def void_order(self, external_id: str, reason: str, timeout: float) -> Voided | NotVoidable:
        self.calls.append(("void", external_id))
        self.timeouts.append(timeout)
        if self.void_down or self.down:
            raise PosUnavailable("down")
        with self.lock:
            placed = self.placed.get(external_id)
            if self.voids == "none":
                return NotVoidable("this POS cannot void an order")
            if placed is None:
                if self.voids == "key":
                    self.voided.add(external_id)
                return Voided(None)
            if external_id in self.voided:
                return Voided(placed.pos_order_id)
            age = self.clock() - self.created_at.get(external_id, self.clock())
            if self.refuse_voids or age >= self.void_window:
                return NotVoidable("the kitchen has it")
            self.voided.add(external_id)
            return Voided(placed.pos_order_id)

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


class GatedPos(FakePos):
    """Holds every POST until the test opens the gate or the call's own timeout ends it (a
    timeout, as the REST adapter reports one): an overrun without timing guesses."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def send_order(self, key, body, timeout):
        self.entered.set()
        if not self.gate.wait(min(timeout, 10)):
            self.calls.append(("place", key))
            self.timeouts.append(timeout)
            return Transient("timeout")
        return super().send_order(key, body, timeout)


class FakeTasks:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    NAMES: ClassVar[dict[Move, str]] = {
        Move.ORDER: "place_order",
        Move.CALLBACK: "deliver_callback",
        Move.RECONCILE: "reconcile_order",
    }

    def send(self, kind: Move, uid: str, again: bool = False) -> bool:
        self.sent.append((self.NAMES[kind], uid))
        return True

    def place_order(self, uid: str) -> bool:
        return self.send(Move.ORDER, uid)

    def deliver_callback(self, uid: str) -> bool:
        return self.send(Move.CALLBACK, uid)

    def reconcile_order(self, uid: str) -> bool:
        return self.send(Move.RECONCILE, uid)
