"""A programmable POS adapter and a task recorder, for the unit layer."""

from __future__ import annotations

import threading
import time
from collections import deque

from app.pos.base import LocationUnknown, Placed, PosUnavailable
from possim.seed import SEED


def seeded_menu(location_id: str) -> tuple[dict, dict]:
    """The simulator's seeded location and menu, as the REST adapter would return them."""
    entry = SEED["locations"][location_id]
    location = {"location_id": location_id, **{k: v for k, v in entry.items() if k not in ("items", "updated_at")}}
    return location, {"location_id": location_id, "updated_at": entry.get("updated_at"), "items": entry["items"]}


class FakePos:
    """Answers place_order from a queue of outcomes (default: placed), records every call."""

    def __init__(self):
        self.outcomes: deque = deque()
        self.placed: dict[str, Placed] = {}
        self.calls: list[tuple[str, str]] = []
        self.down = False
        self.delay = 0.0
        self.lookup_down = False
        self.lock = threading.Lock()

    def get_location(self, location_id: str) -> dict:
        self.calls.append(("location", location_id))
        if self.down:
            raise PosUnavailable("down")
        try:
            return seeded_menu(location_id)[0]
        except KeyError:
            raise LocationUnknown(location_id) from None

    def get_menu(self, location_id: str) -> dict:
        self.calls.append(("menu", location_id))
        if self.down:
            raise PosUnavailable("down")
        try:
            return seeded_menu(location_id)[1]
        except KeyError:
            raise LocationUnknown(location_id) from None

    def find_order(self, external_id: str):
        self.calls.append(("lookup", external_id))
        if self.lookup_down or self.down:
            raise PosUnavailable("down")
        return self.placed.get(external_id)

    def place_order(self, key: str, body: dict, timeout=None):
        self.calls.append(("place", key))
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            outcome = self.outcomes.popleft() if self.outcomes else None
            if outcome is None:
                fresh = Placed(f"P-{len(self.placed) + 1:06d}", body["totals"]["grand_total"])
                outcome = self.placed.setdefault(key, fresh)
            elif isinstance(outcome, Placed):
                self.placed.setdefault(key, outcome)
            return outcome

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


class GatedPos(FakePos):
    """Holds every POST until the test opens the gate: an overrun without timing guesses."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def place_order(self, key, body, timeout=None):
        self.entered.set()
        self.gate.wait(10)
        return super().place_order(key, body, timeout)


class FakeTasks:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def place_order(self, uid: str, countdown=None) -> bool:
        self.sent.append(("place_order", uid))
        return True

    def deliver_callback(self, uid: str, countdown=None) -> bool:
        self.sent.append(("deliver_callback", uid))
        return True
