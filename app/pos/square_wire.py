"""Square's Orders API shapes, as pure functions: the CreateOrder body built from an order
record, the SearchOrders body that finds it again, the UpdateOrder body that cancels it, and
Square's Order read back as base.Placed. Built from Square's public documentation:

- CreateOrder (POST /v2/orders: `order` + `idempotency_key`):
  https://developer.squareup.com/reference/square/orders/CreateOrder
- Order (`reference_id`, at most 40 characters; `state`, `version`, `created_at`, `metadata`):
  https://developer.squareup.com/reference/square/objects/Order
  and the OrderState values OPEN, COMPLETED, CANCELED (terminal), DRAFT:
  https://developer.squareup.com/reference/square/objects/OrderState
- line item modifiers (`catalog_object_id`, `quantity` as a string, `base_price_money`):
  https://developer.squareup.com/reference/square/objects/OrderLineItemModifier
- Money `{amount, currency}`, amount in the currency's smallest unit:
  https://developer.squareup.com/docs/build-basics/working-with-monetary-amounts
- taxes from the seller's catalog (`pricing_options.auto_apply_taxes`), an ORDER-scoped discount:
  https://developer.squareup.com/docs/orders-api/apply-taxes-and-discounts
  and a tip as an order service charge: https://developer.squareup.com/docs/orders-api/service-charges
- pickup fulfillments (`schedule_type` ASAP or SCHEDULED, `pickup_at`):
  https://developer.squareup.com/reference/square/objects/FulfillmentPickupDetails
- SearchOrders by a created_at range, which needs sort_field CREATED_AT:
  https://developer.squareup.com/docs/orders-api/manage-orders/search-orders
- UpdateOrder: a sparse order with the current `version`, a new idempotency key per update;
  COMPLETED and CANCELED orders cannot be updated:
  https://developer.squareup.com/reference/square/orders/update-order
  https://developer.squareup.com/docs/orders-api/manage-orders/update-orders
  (a fulfillment is canceled with the order: developer.squareup.com/forums/t/1259)
"""

from __future__ import annotations

import hashlib
from typing import TypedDict, TypeGuard

from app import jsonio
from app.jsonio import Json, money_to_cents
from app.pos.base import OrderRecord, Placed
from app.pos.wire import unix_time
from app.times import format_time

REFERENCE_MAX = 40  # Order.reference_id
SOURCE = "posbridge"
FULFILLMENT_UID = "fulfillment"
OPEN, COMPLETED, CANCELED = "OPEN", "COMPLETED", "CANCELED"


def reference_id(request_uid: str) -> str:
    """The order's reference_id: the request_uid itself when it fits Square's 40 characters, else
    a digest of it (a request_uid may have 128). Either way the metadata carries the uid whole."""
    if len(request_uid) <= REFERENCE_MAX:
        return request_uid
    return "pb-" + hashlib.sha256(request_uid.encode()).hexdigest()[: REFERENCE_MAX - 3]


class Money(TypedDict):
    amount: int  # the currency's smallest unit
    currency: str


class Modifier(TypedDict):
    uid: str
    catalog_object_id: str
    quantity: str
    base_price_money: Money


def money(cents: int, currency: str) -> Money:
    return {"amount": cents, "currency": currency}


def _modifiers(children: list[Json], prefix: str, currency: str) -> list[Modifier]:
    """A line's children, and theirs, as Square modifiers (Square has no nested line items)."""
    out: list[Modifier] = []
    for child in children or []:
        out.append(
            {
                "uid": f"{prefix}-m{len(out) + 1}",
                "catalog_object_id": child["id"],
                "quantity": str(child["quantity"]),
                "base_price_money": money(money_to_cents(child.get("unit_price")), currency),
            }
        )
        for nested in _modifiers(child.get("children") or [], prefix, currency):
            out.append({**nested, "uid": f"{prefix}-m{len(out) + 1}"})
    return out


def _line(line: Json, n: int, currency: str) -> Json:
    uid = f"line-{n}"
    out: Json = {
        "uid": uid,
        "catalog_object_id": line["id"],
        "quantity": str(line["quantity"]),
        "base_price_money": money(money_to_cents(line.get("unit_price")), currency),
    }
    modifiers = _modifiers(line.get("children") or [], uid, currency)
    if modifiers:
        out["modifiers"] = modifiers
    if line.get("note"):
        out["note"] = line["note"]
    return out


def _fulfillment(order: OrderRecord) -> Json:
    """PAR's fulfillment as a Square PICKUP (or DELIVERY) fulfillment, ASAP unless scheduled."""
    details = order["order_details"]
    wanted = details.get("fulfillment") or {}
    customer = details.get("customer") or {}
    recipient = {
        k: v
        for k, v in (
            ("display_name", customer.get("name")),
            ("phone_number", customer.get("phone")),
            ("email_address", customer.get("email")),
        )
        if v
    }
    scheduled = order.get("schedule_type") == "future" and wanted.get("promised_at")
    kind = "DELIVERY" if wanted.get("mode") == "delivery" else "PICKUP"
    when = {"schedule_type": "SCHEDULED" if scheduled else "ASAP"}
    if scheduled:
        when["deliver_at" if kind == "DELIVERY" else "pickup_at"] = wanted["promised_at"]
    return {
        "uid": FULFILLMENT_UID,
        "type": kind,
        "state": "PROPOSED",
        f"{kind.lower()}_details": {"recipient": recipient, **when},
    }


def body_fields(order: OrderRecord, not_after: float, location_id: str, currency: str = "USD") -> Json:
    """The CreateOrder request for an order record, at the Square location `location_id`. Square
    has no deadline field: `not_after` is kept in the metadata, for people, never enforced."""
    uid, details = order["request_uid"], order["order_details"]
    body: Json = {
        "location_id": location_id,
        "reference_id": reference_id(uid),
        "source": {"name": SOURCE},
        "line_items": [_line(line, n, currency) for n, line in enumerate(details["items"], 1)],
        "pricing_options": {"auto_apply_taxes": True},
        "fulfillments": [_fulfillment(order)],
        "metadata": {"request_uid": uid, "not_after": format_time(not_after)},
    }
    discount = money_to_cents(details.get("discount_total"))
    if discount:
        body["discounts"] = [
            {
                "uid": "discount",
                "name": "Discount",
                "type": "FIXED_AMOUNT",
                "amount_money": money(discount, currency),
                "scope": "ORDER",
            }
        ]
    tip = money_to_cents(details.get("tip"))
    if tip:
        body["service_charges"] = [
            {"uid": "tip", "name": "Tip", "amount_money": money(tip, currency), "calculation_phase": "TOTAL_PHASE"}
        ]
    return {"idempotency_key": uid, "order": body}


def order_body(order: OrderRecord, not_after: float, location_id: str, currency: str = "USD") -> bytes:
    """The body's bytes; the same record, deadline and location give the same bytes."""
    return jsonio.dumps(body_fields(order, not_after, location_id, currency)).encode()


def placed(order: Json, replayed: bool = False) -> Placed:
    """A Square Order as Placed: `voided` when CANCELED (no live order, and never again)."""
    total = (order.get("total_money") or {}).get("amount")
    return Placed(
        str(order["id"]),
        total if isinstance(total, int) and not isinstance(total, bool) else None,
        replayed=replayed,
        created_at=unix_time(order.get("created_at")),
        voided=order.get("state") == CANCELED,
    )


def is_ours(order: object, request_uid: str) -> TypeGuard[Json]:
    """The order was made under this request_uid: its reference_id, and the uid our metadata
    keeps (Square documents no uniqueness for reference_id: another app may use the same one)."""
    if not isinstance(order, dict) or not order.get("id") or order.get("reference_id") != reference_id(request_uid):
        return False
    return (order.get("metadata") or {}).get("request_uid") == request_uid


def search_body(location_ids: list[str], since: float, cursor: str | None = None, limit: int = 500) -> Json:
    """SearchOrders for orders created since `since` (Unix seconds) at up to 10 locations, newest
    first (a timed-out create is recent)."""
    body: Json = {
        "location_ids": location_ids,
        "query": {
            "filter": {"date_time_filter": {"created_at": {"start_at": format_time(since)}}},
            "sort": {"sort_field": "CREATED_AT", "sort_order": "DESC"},
        },
        "limit": limit,
    }
    if cursor:
        body["cursor"] = cursor
    return body


def _canceled(fulfillment: Json, reason: str) -> Json:
    out: Json = {"uid": fulfillment["uid"], "state": CANCELED}
    kind = str(fulfillment.get("type") or "").lower()
    if kind in ("pickup", "delivery") and reason:
        out[f"{kind}_details"] = {"cancel_reason": reason[:100]}
    return out


def cancel_body(order: Json, request_uid: str, reason: str = "") -> Json:
    """UpdateOrder moving the order (and its fulfillments, with the reason) to CANCELED at its
    current version. The key names the version: a retry of this update is the same update."""
    sparse: Json = {"location_id": order.get("location_id"), "version": order.get("version"), "state": CANCELED}
    fulfillments = [
        _canceled(f, reason)
        for f in order.get("fulfillments") or []
        if isinstance(f, dict) and f.get("uid") and f.get("state") not in (CANCELED, COMPLETED)
    ]
    if fulfillments:
        sparse["fulfillments"] = fulfillments
    return {"order": sparse, "idempotency_key": f"cancel-v{order.get('version')}-{request_uid}"}
