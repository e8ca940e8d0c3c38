"""The orders the harness sends, and what each should come to.

`expect` is what the product must do with the order: "accepted" (recorded, then placed,
errored or rejected by the POS), "rejected" (recorded, refused by the rules, never at the
POS), "refused" (a 4xx: never recorded), "validated" (validate only: never recorded).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

from app.times import format_time
from bin.sample import sample_order

FINAL = ("placed", "errored", "rejected", "cancelled")
TAX = {"loc-001": "0.0825", "loc-002": "0.0600", "loc-003": "0.0700"}


@dataclass
class Planned:
    uid: str
    kind: str
    expect: str
    body: dict
    callback: str | None = None  # the receiver's mode for this order: ok, flaky, dead, trickle
    changed: dict | None = None  # a second payload under the same request_uid
    path: str = "/posnext/order/submit"
    bad: str = ""  # how a refused request is broken: digest, type, schema
    notes: list[str] = field(default_factory=list)


def _uid(rng: random.Random, kind: str) -> str:
    return f"rel-{kind}-{rng.getrandbits(64):016x}"


def valid(rng: random.Random, kind: str, ttl: int | None = None, callback_url: str | None = None) -> dict:
    location = rng.choice(("loc-001", "loc-002"))
    body = sample_order(_uid(rng, kind), location_id=location, quantity=rng.randint(1, 4), tax_rate=TAX[location])
    if ttl:
        body["ttl"] = ttl
    if callback_url:
        body["callback_url"] = callback_url
    return body


def changed_payload(body: dict) -> dict:
    """The same request_uid with another quantity (so other totals): must get 409."""
    other = sample_order(
        body["request_uid"],
        location_id=body["location_id"],
        quantity=body["order_details"]["items"][0]["quantity"] + 1,
        tax_rate=TAX[body["location_id"]],
    )
    other["request_datetime"] = body["request_datetime"]
    return other


def broken_by_rules(rng: random.Random) -> dict:
    """An order the rules refuse (rejected, recorded, never sent to the POS)."""
    how = rng.choice(("price", "unavailable", "closed", "expired"))
    if how == "closed":
        return sample_order(_uid(rng, "closed"), location_id="loc-003", tax_rate=TAX["loc-003"])
    body = valid(rng, how)
    items = body["order_details"]["items"]
    if how == "price":
        items[0]["unit_price"] = items[0]["unit_price"] + Decimal("1.00")
    elif how == "unavailable":
        items.append(
            {"id": "item-004", "name": "Salad", "item_type": "Item", "quantity": 1, "unit_price": Decimal("7.49")}
        )
    else:
        body["request_datetime"] = format_time(time.time() - 120)
        body["ttl"] = 30
    return body


def with_callback(rng: random.Random, callback_base: str, kind: str, mode: str, ttl: int | None = None) -> Planned:
    """An order with a callback_url on the receiver, answered there as `mode` says."""
    body = valid(rng, "cb" if kind == "callback" else kind, ttl)
    body["callback_url"] = f"{callback_base}/cb/{body['request_uid']}?mode={mode}"
    return Planned(body["request_uid"], kind, "accepted", body, callback=mode)


def plan(rng: random.Random, callback_base: str) -> Planned:
    """One scenario, drawn with the harness's weights."""
    roll = rng.random()
    ttl = rng.choice((None, None, 4, 6, 9, 12))  # ORDER_MAX_ASYNC_SECONDS is 15
    if roll < 0.30:
        body = valid(rng, "plain", ttl)
        return Planned(body["request_uid"], "plain", "accepted", body)
    if roll < 0.50:
        mode = rng.choices(("ok", "flaky", "dead", "trickle"), weights=(6, 2, 1, 1))[0]
        return with_callback(rng, callback_base, "callback", mode, ttl)
    if roll < 0.60:
        body = valid(rng, "dup", ttl)
        return Planned(body["request_uid"], "resubmit", "accepted", body)
    if roll < 0.70:
        body = valid(rng, "conc", ttl)
        return Planned(body["request_uid"], "concurrent", "accepted", body)
    if roll < 0.78:
        body = valid(rng, "chg", ttl)
        return Planned(body["request_uid"], "changed", "accepted", body, changed=changed_payload(body))
    if roll < 0.83:
        body = valid(rng, "race", ttl)
        return Planned(body["request_uid"], "race_changed", "accepted", body, changed=changed_payload(body))
    if roll < 0.91:
        body = broken_by_rules(rng)
        return Planned(body["request_uid"], "rules", "rejected", body)
    if roll < 0.95:
        body = valid(rng, "val")
        body["request_type"] = "validate-order"
        return Planned(body["request_uid"], "validate", "validated", body, path="/posnext/order/validate")
    bad = rng.choice(("digest", "type", "schema"))
    body = valid(rng, f"bad{bad}")
    if bad == "type":
        body["request_type"] = "validate-order"
    elif bad == "schema":
        body["order_details"]["items"][0]["quantity"] = "two"
    return Planned(body["request_uid"], "refused", "refused", body, bad=bad)
