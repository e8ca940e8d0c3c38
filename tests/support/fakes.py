"""A programmable POS adapter and a task recorder, for the unit layer."""

from __future__ import annotations

import threading
import time
from collections import deque

from app import jsonio
from app.pos.base import Expired, LocationUnknown, Placed, PosUnavailable, Transient
from app.pos.rest import normalise_menu
from possim.seed import SEED


def seeded_menu(location_id: str) -> tuple[dict, dict]:
    """The simulator's seeded location and menu, as the REST adapter would return them."""
    entry = SEED["locations"][location_id]
    location = {"location_id": location_id, **{k: v for k, v in entry.items() if k not in ("items", "updated_at")}}
    return location, {"location_id": location_id, "updated_at": entry.get("updated_at"), "items": entry["items"]}


class FakePos:
    """A PosAdapter (app/pos/base.py) in memory: answers place_order from a queue of outcomes
    (default: placed, once per key, never after not_after), records every call."""

    def __init__(self, clock=time.time):
        self.outcomes: deque = deque()
        self.placed: dict[str, Placed] = {}
        self.created_at: dict[str, float] = {}
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, bytes]] = []
        self.timeouts: list[float | None] = []
        self.down = False
        self.delay = 0.0
        self.lookup_down = False
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
        return self.placed.get(external_id)

    def order_body(self, order: dict, not_after: float) -> bytes:
        return jsonio.dumps({"order": order, "not_after": not_after}).encode()

    def send_order(self, key: str, body: bytes, timeout: float):
        """POST `body` (order_body's bytes): recorded byte for byte in `bodies`."""
        self.bodies.append((key, body))
        data = jsonio.loads(body)
        return self.place_order(data["order"], float(data["not_after"]), timeout)

    def place_order(self, order: dict, not_after: float, timeout: float):
        key = order["request_uid"]
        self.calls.append(("place", key))
        self.timeouts.append(timeout)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            outcome = self.outcomes.popleft() if self.outcomes else None
            if outcome is None:
                if key in self.placed:
                    return self.placed[key]
                if self.clock() > not_after:
                    return Expired()
                lines = order["order_details"]["items"]
                total = sum(int(line["unit_price"] * 100) * line["quantity"] for line in lines)
                outcome = Placed(f"P-{len(self.placed) + 1:06d}", total)
            if isinstance(outcome, Placed):
                outcome = self.placed.setdefault(key, outcome)
                self.created_at.setdefault(key, self.clock())
            return outcome

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


class GatedPos(FakePos):
    """Holds every POST until the test opens the gate or the call's own timeout ends it (a
    timeout, as the REST adapter reports one): an overrun without timing guesses."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def place_order(self, order, not_after, timeout):
        self.entered.set()
        if not self.gate.wait(min(timeout, 10)):
            self.calls.append(("place", order["request_uid"]))
            self.timeouts.append(timeout)
            return Transient("timeout")
        return super().place_order(order, not_after, timeout)


class FakeTasks:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    NAMES = {"o": "place_order", "c": "deliver_callback", "r": "reconcile_order"}

    def send(self, kind: str, uid: str) -> bool:
        self.sent.append((self.NAMES[kind], uid))
        return True

    def place_order(self, uid: str) -> bool:
        return self.send("o", uid)

    def deliver_callback(self, uid: str) -> bool:
        return self.send("c", uid)

    def reconcile_order(self, uid: str) -> bool:
        return self.send("r", uid)
