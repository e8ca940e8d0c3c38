"""What the POS adapters' tests share: the simulator's token, an order record as the engine hands
it to an adapter, and the POS's answer to it."""

from __future__ import annotations

from app.orders.order import new_record
from app.samples import sample_order

SIM_TOKEN = "pos-token-123"

SLOW = 2.0

NOT_AFTER = 1_795_457_700.0

ORDER = {
    "pos_order_id": "P-000042",
    "external_id": "ord-1",
    "status": "accepted",
    "total": 2687,
    "created_at": "2026-11-23T18:00:00.250Z",
}

CREATED = 1_795_456_800.25


def record(uid="ord-1", **overrides):
    """An order record as the engine hands it to the adapter."""
    return new_record(sample_order(uid=uid, **overrides), 1_795_456_800.0)


def place(rest, order=None, timeout=5.0):
    return rest.place_order(order or record(), NOT_AFTER, timeout)
