"""The simulator's whole state, behind one lock: locations, knobs, orders, idempotency, stats.

Deadlines: a body's ``not_after`` is checked in ``place``, under the lock, at the instant the
order would be created (after any latency knob): later than it, nothing is created and the
answer is 422 ``expired`` (unless the location's knob ``honour_not_after`` is false: then the
order is created late, as by a POS without the field). Every order records ``received_at``,
``created_at``, ``not_after`` (null for a body without one) and ``status`` (``accepted`` or
``voided``). Calls are counted per ``external_id`` (POSTs, lookups and voids, whatever they
were answered), so a test can bound how often an order was tried.

Idempotency: ``claim`` marks a key as in progress (or finds the order it already made);
``place`` checks the location and items and creates the order, atomically; ``release`` ends
the claim. Only one call holds a key's claim at a time, and ``place`` never makes a second
order for a key, so one key makes at most one order however the calls interleave. A call
that ends without an order (an injected error, a refusal) leaves the key unused.

Voids (``void``, by external_id, which is the key the service uses): a live order younger than
the knob ``void_window_ms`` is marked ``voided`` (it stays in the ledger); an older one is
``not_voidable``. With no order, the external_id is closed, under the same lock as ``place``:
a POST still in flight (claimed, sleeping in a knob) then makes nothing and gets 422
``voided``, as does any later POST. A claimed POST counts as an order of age 0.
"""

import copy
import itertools
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from possim import knobs as knobs_mod
from possim.orderbody import not_after as body_not_after
from possim.records import ACCEPTED, VOIDED, Claim, Placement, Void, iso, now_iso, order_answer, order_item_ids

LOCATION_FIELDS = ("name", "accepting_orders", "timezone", "tax_rate", "currency")
INTERNAL = ("body_hash", "created_ts")  # kept in the ledger, never shown


class UnknownLocation(LookupError):
    """No location with that id."""


class UnknownItem(LookupError):
    """No item with that id on the location's menu."""


class Ledger:
    def __init__(self, seed: dict, knobs: dict | None = None, rng: random.Random | None = None):
        self._lock = threading.Lock()
        self._locations = copy.deepcopy(seed["locations"])
        self._item_ids = {loc_id: {item["id"] for item in loc["items"]} for loc_id, loc in self._locations.items()}
        self._rng = rng or random.Random()
        self._sequence = itertools.count(1)  # never reset: a pos_order_id is never reused
        base = {}
        for location_id, patch in (knobs or {}).items():
            self._check_patch(location_id, patch)
            base[location_id] = knobs_mod.merge(base.get(location_id, {}), patch)
        self._base_knobs = base
        self.reset()

    def reset(self) -> None:
        """Empty the ledger; knobs back to those given at start; stats to zero."""
        with self._lock:
            self._knobs = copy.deepcopy(self._base_knobs)
            self._orders = []
            self._by_key = {}
            self._by_external_id = {}
            self._claims = {}  # key -> (token, external_id, location_id) of a call in progress
            self._closed = set()  # external_ids closed by a void: nothing more is made under them
            self._stats = Counter()
            self._calls = {}
            self._menu_changed_at = {}

    # locations, menus and knobs

    def _check_patch(self, location_id, patch) -> None:
        if location_id == knobs_mod.STAR:
            item_ids = set().union(*self._item_ids.values())
        elif location_id in self._locations:
            item_ids = self._item_ids[location_id]
        else:
            raise UnknownLocation(location_id)
        knobs_mod.validate_patch(patch, item_ids)

    def knobs_for(self, location_id: str) -> dict:
        with self._lock:
            return knobs_mod.effective(self._knobs, location_id)

    def knobs_view(self) -> dict:
        with self._lock:
            return {
                "defaults": copy.deepcopy(knobs_mod.DEFAULTS),
                "knobs": copy.deepcopy(self._knobs),
                "effective": {loc_id: knobs_mod.effective(self._knobs, loc_id) for loc_id in self._locations},
            }

    def patch_knobs(self, location_id: str, patch: dict) -> dict:
        """Merge ``patch`` into the entry of ``location_id`` (or ``"*"``); its stored entry."""
        self._check_patch(location_id, patch)
        with self._lock:
            entry = knobs_mod.merge(self._knobs.get(location_id, {}), patch)
            self._knobs[location_id] = entry
            if "items" in patch:
                changed = self._locations if location_id == knobs_mod.STAR else [location_id]
                stamp = now_iso()
                self._menu_changed_at.update(dict.fromkeys(changed, stamp))
            return copy.deepcopy(entry)

    def set_item_available(self, location_id: str, item_id: str, available: bool) -> None:
        if location_id not in self._locations:
            raise UnknownLocation(location_id)
        if item_id not in self._item_ids[location_id]:
            raise UnknownItem(item_id)
        self.patch_knobs(location_id, {"items": {item_id: available}})

    def _accepting(self, location_id, knobs) -> bool:
        if knobs["accepting_orders"] is None:
            return self._locations[location_id]["accepting_orders"]
        return knobs["accepting_orders"]

    def location(self, location_id: str) -> dict | None:
        with self._lock:
            seeded = self._locations.get(location_id)
            if seeded is None:
                return None
            knobs = knobs_mod.effective(self._knobs, location_id)
            out = {"location_id": location_id}
            out.update({field: seeded[field] for field in LOCATION_FIELDS})
            out["accepting_orders"] = self._accepting(location_id, knobs)
            return out

    def menu(self, location_id: str) -> dict | None:
        with self._lock:
            seeded = self._locations.get(location_id)
            if seeded is None:
                return None
            overrides = knobs_mod.effective(self._knobs, location_id)["items"]
            items = copy.deepcopy(seeded["items"])
            for item in items:
                item["available"] = overrides.get(item["id"], item["available"])
            updated_at = self._menu_changed_at.get(location_id, seeded["updated_at"])
            return {"location_id": location_id, "updated_at": updated_at, "items": items}

    def random(self) -> float:
        """A number in [0, 1) from the ledger's generator (seedable for tests)."""
        with self._lock:
            return self._rng.random()

    # orders and idempotency

    @staticmethod
    def _record(order: dict) -> dict:
        return {k: v for k, v in order.items() if k not in INTERNAL}

    def claim(self, key: str, body_hash: str, external_id: str = "", location_id: str = knobs_mod.STAR) -> Claim:
        with self._lock:
            order = self._by_key.get(key)
            if order is not None:
                kind = "replay" if order["body_hash"] == body_hash else "reused"
                if order["status"] == VOIDED or external_id in self._closed:
                    kind = "voided"
                return Claim(kind, key, body_hash, order=order_answer(order))
            if external_id in self._closed or key in self._closed:
                return Claim("voided", key, body_hash)
            if key in self._claims:
                return Claim("in_progress", key, body_hash)
            token = object()
            self._claims[key] = (token, external_id, location_id)
            return Claim("new", key, body_hash, token=token)

    def release(self, claim: Claim) -> None:
        with self._lock:
            held = self._claims.get(claim.key)
            if claim.token is not None and held is not None and held[0] is claim.token:
                del self._claims[claim.key]

    def _refusal(self, body, knobs) -> Placement | None:
        location_id = body["location_id"]
        if location_id not in self._locations:
            return Placement(code="location_unknown", message=f"unknown location {location_id}")
        if not self._accepting(location_id, knobs):
            return Placement(code="location_closed", message=f"location {location_id} is not accepting orders")
        available = {
            item["id"]: knobs["items"].get(item["id"], item["available"])
            for item in self._locations[location_id]["items"]
        }
        missing = [i for i in order_item_ids(body["items"]) if not available.get(i, False)]
        if missing:
            return Placement(code="item_unavailable", message=f"unavailable items: {', '.join(dict.fromkeys(missing))}")
        return None

    def place(self, claim: Claim, body: dict, received_at: str) -> Placement:
        """Create the order for ``claim`` unless the POS refuses it (422 ``voided`` for a key a
        void closed; ``expired`` past the body's ``not_after``, judged now, under the lock, when
        the location honours it); at most one per key."""
        deadline = body_not_after(body)
        with self._lock:
            existing = self._by_key.get(claim.key)
            if existing is not None:
                return Placement(order=order_answer(existing))
            if body["external_id"] in self._closed or claim.key in self._closed:
                return Placement(code="voided", message="this key was voided: no order is made under it")
            knobs = knobs_mod.effective(self._knobs, body["location_id"])
            now = datetime.now(UTC)
            if deadline is not None and now > deadline and knobs["honour_not_after"]:
                return Placement(
                    code="expired",
                    message=f"the order would be created at {iso(now)}, after its not_after {body['not_after']}",
                )
            refusal = self._refusal(body, knobs)
            if refusal is not None:
                return refusal
            order = {
                "pos_order_id": f"P-{next(self._sequence):06d}",
                "external_id": body["external_id"],
                "idempotency_key": claim.key,
                "location_id": body["location_id"],
                "total": body["totals"]["grand_total"],
                "status": ACCEPTED,
                "received_at": received_at,
                "created_at": iso(now),
                "not_after": body.get("not_after"),
                "body_hash": claim.body_hash,
                "created_ts": time.monotonic(),
            }
            self._orders.append(order)
            self._by_key[claim.key] = order
            self._by_external_id.setdefault(order["external_id"], []).append(order)
            return Placement(order=order_answer(order))

    def void(self, external_id: str, reason: str) -> Void:
        """Void the order made for ``external_id``, or close it when none is made yet (see above)."""
        with self._lock:
            orders = self._by_external_id.get(external_id, [])
            live = [o for o in orders if o["status"] == ACCEPTED]
            if live:
                order = live[0]
                window = knobs_mod.effective(self._knobs, order["location_id"])["void_window_ms"]
                age_ms = (time.monotonic() - order["created_ts"]) * 1000
                if age_ms >= window:
                    return Void(
                        "not_voidable",
                        order["pos_order_id"],
                        f"the order is {age_ms:.0f} ms old: past the void window of {window} ms",
                    )
                order.update(status=VOIDED, voided_at=now_iso(), void_reason=reason)
            elif not orders:
                in_flight = [loc for _, ext, loc in self._claims.values() if ext == external_id]
                windows = [knobs_mod.effective(self._knobs, loc)["void_window_ms"] for loc in in_flight]
                if any(window <= 0 for window in windows):  # a POST in progress: an order of age 0
                    return Void("not_voidable", None, "a call making this order is in progress")
            self._closed.add(external_id)
            return Void(VOIDED, orders[0]["pos_order_id"] if orders else None)

    def find_orders(self, external_id: str) -> list[dict]:
        """The ledger records of the orders made for ``external_id``, oldest first."""
        with self._lock:
            return [self._record(o) for o in self._by_external_id.get(external_id, [])]

    def count_call(self, external_id: str, kind: str) -> None:
        """One more call (``posts``, ``lookups`` or ``voids``) for ``external_id``, whatever its answer."""
        with self._lock:
            calls = self._calls.setdefault(external_id, {"posts": 0, "lookups": 0, "voids": 0, "last_post_at": None})
            calls[kind] += 1
            if kind == "posts":
                calls["last_post_at"] = now_iso()

    def ledger_view(self, external_id: str | None = None) -> dict:
        """Every order made (``count`` of them) and the calls per external_id; with
        ``external_id``, only that one's."""
        with self._lock:
            orders = [self._record(o) for o in self._orders if external_id is None or o["external_id"] == external_id]
            calls = {k: dict(v) for k, v in self._calls.items() if external_id is None or k == external_id}
            return {"orders": orders, "count": len(orders), "calls": calls}

    # stats

    def count_answer(self, status: int) -> None:
        with self._lock:
            self._stats[str(status)] += 1

    def stats_view(self) -> dict:
        with self._lock:
            return {
                "post_orders": dict(sorted(self._stats.items())),
                "post_orders_total": sum(self._stats.values()),
                "orders_created": len(self._orders),
                "orders_voided": sum(1 for o in self._orders if o["status"] == VOIDED),
                "lookups_total": sum(c["lookups"] for c in self._calls.values()),
                "in_progress": len(self._claims),
            }
