"""The REST POS's shapes (pos-api.md), as pure functions: the POST /orders body built from an
order record, and the order answers (201/200 and lookup) read back as base.Placed."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from app import jsonio
from app.jsonio import Json, money_to_cents
from app.pos.base import OrderRecord, Placed
from app.times import format_time, parse_time

TOTALS = ("subtotal", "discount_total", "tax", "tip", "grand_total")


class Line(TypedDict):
    """A line of the POST /orders body: an item and its children, prices in cents."""

    id: str
    item_type: str
    quantity: int
    unit_price: int
    children: list[Line]
    note: NotRequired[str]


class OrderBody(TypedDict):
    """The POST /orders body of pos-api.md."""

    external_id: str
    not_after: str
    location_id: str
    items: list[Line]
    totals: dict[str, int]
    fulfillment: object  # PAR's, keys sorted
    customer: object  # PAR's, keys sorted
    scheduled_for: str | None


def _line(line: Json) -> Line:
    out: Line = {
        "id": line["id"],
        "item_type": line["item_type"],
        "quantity": line["quantity"],
        "unit_price": money_to_cents(line.get("unit_price")),
        "children": [_line(child) for child in line.get("children") or []],
    }
    if line.get("note"):
        out["note"] = line["note"]
    return out


def _sorted(value: object) -> object:
    """Dicts with their keys sorted, all the way down: the fields copied from PAR's request
    (fulfillment, customer) give the same bytes whatever order the record holds their keys in."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def body_fields(order: OrderRecord, not_after: float) -> OrderBody:
    """The POST /orders body of pos-api.md for an order record, as a dict."""
    details = order["order_details"]
    fulfillment = details.get("fulfillment") or {}
    return {
        "external_id": order["request_uid"],
        "not_after": format_time(not_after),
        "location_id": order["location_id"],
        "items": [_line(line) for line in details["items"]],
        "totals": {name: money_to_cents(details.get(name)) for name in TOTALS},
        "fulfillment": _sorted(fulfillment),
        "customer": _sorted(details.get("customer") or {}),
        "scheduled_for": fulfillment.get("promised_at") if order.get("schedule_type") == "future" else None,
    }


def order_body(order: OrderRecord, not_after: float) -> bytes:
    """The body's bytes. Deterministic: the same record and deadline, the same bytes (so a
    retry under the same key is the same call). jsonio: fields PAR sent that we keep
    (fulfillment, customer) may hold Decimal numbers."""
    return jsonio.dumps(body_fields(order, not_after)).encode()


def unix_time(text: object) -> float | None:
    """Unix seconds from an ISO 8601 time (`...Z`); None when absent or not a time."""
    moment = parse_time(text)
    return None if moment is None else moment.timestamp()


def placed(answer: Json, replayed: bool) -> Placed:
    """An order answer (201/200 body, or one of a lookup's) as Placed."""
    total = answer.get("total")
    return Placed(
        str(answer["pos_order_id"]),
        total if isinstance(total, int) else None,
        replayed=replayed,
        created_at=unix_time(answer.get("created_at")),
        voided=answer.get("status") == "voided",
    )
