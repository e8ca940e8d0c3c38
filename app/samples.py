"""Signed sample orders against the simulator's seeded menu: `posbridge sample`, the benches and
the tests (tests/support/factories.py)."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from app import jsonio, signing
from app.orders.rules import compute_totals
from app.times import format_time


def sample_order(
    uid: str | None = None,
    location_id: str = "loc-001",
    request_type: str = "place-order",
    quantity: int = 2,
    tax_rate: str = "0.0825",
    **overrides,
) -> dict:
    """A valid order: burgers with a Large modifier and a soda, totals computed."""
    items = [
        {
            "id": "item-001",
            "name": "Burger",
            "item_type": "Item",
            "quantity": quantity,
            "unit_price": Decimal("8.99"),
            "children": [
                {
                    "id": "mod-001",
                    "name": "Large",
                    "item_type": "Modifier",
                    "quantity": 1,
                    "unit_price": Decimal("1.50"),
                }
            ],
            "note": "no onions",
        },
        {"id": "item-003", "name": "Soda", "item_type": "Item", "quantity": 1, "unit_price": Decimal("1.99")},
    ]
    subtotal = (Decimal("10.49") * quantity + Decimal("1.99")).quantize(Decimal("0.01"))
    tip = Decimal("2.00")
    totals = compute_totals({"items": items, "tip": tip}, Decimal(tax_rate))
    assert totals.subtotal == subtotal
    body = {
        "request_uid": uid or f"ord-{uuid.uuid4().hex[:16]}",
        "request_type": request_type,
        "request_datetime": format_time(time.time()),
        "location_id": location_id,
        "order_details": {
            "online_order_id": f"ON-{uuid.uuid4().hex[:8]}",
            "fulfillment": {"mode": "pickup"},
            "customer": {"name": "Ana", "phone": "+15555550100"},
            "items": items,
            **totals.as_dict(),
            "payments": [{"type": "card", "amount": totals.grand_total, "reference": "ch_123"}],
        },
    }
    body.update(overrides)
    return body


def encode(body: dict, shared_id: str, token: str) -> tuple[bytes, dict]:
    """The wire bytes and headers PAR would send: JWT and x-pch-digest."""
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "x-pch-digest": signing.sign(signing.key_from_shared_id(shared_id), body),
    }
    return jsonio.dumps(body).encode(), headers
