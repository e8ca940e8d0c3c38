"""What an order record holds, what callers see of it, and what the POS is sent: pure."""

from __future__ import annotations

from datetime import timedelta

from app.jsonio import money_to_cents
from app.times import format_time, parse_time

REQUEST_FIELDS = ("request_uid", "request_type", "request_datetime", "location_id", "schedule_type",
                  "callback_url", "ttl", "order_details")
TOTALS = ("subtotal", "discount_total", "tax", "tip", "grand_total")


def new_record(request: dict, arrived: float, totals: dict | None = None) -> dict:
    doc = {name: request.get(name) for name in REQUEST_FIELDS}
    details = dict(request["order_details"])
    for name, value in (totals or {}).items():
        details[name] = value
    doc.update(order_details=details, status="pending", errors=[], received_at=format_time(arrived),
               completed_at=None, validated=False)
    return doc


def view(doc: dict) -> dict:
    """The record as PAR sees it (polling, submit, callbacks): internal fields left out."""
    return {k: v for k, v in doc.items() if k != "validated" and (v is not None or k == "completed_at")}


def envelope(status: str, errors: list[dict], request: dict | None = None, **extra) -> dict:
    """The body of an answer that is not a stored order: validate, and every error."""
    request = request or {}
    body = {"request_uid": request.get("request_uid"), "location_id": request.get("location_id"),
            "status": status, "errors": errors}
    if request.get("request_type"):
        body["request_type"] = request["request_type"]
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def deadline(request: dict, arrived: float, max_async_seconds: int) -> float:
    """The order's ttl from request_datetime, never past ORDER_MAX_ASYNC_SECONDS from arrival."""
    cap = arrived + max_async_seconds
    sent = parse_time(request.get("request_datetime"))
    if request.get("ttl") and sent is not None:
        return min((sent + timedelta(seconds=request["ttl"])).timestamp(), cap)
    return cap


def _line(line: dict) -> dict:
    out = {"id": line["id"], "item_type": line["item_type"], "quantity": line["quantity"],
           "unit_price": money_to_cents(line.get("unit_price")),
           "children": [_line(child) for child in line.get("children") or []]}
    if line.get("note"):
        out["note"] = line["note"]
    return out


def pos_body(doc: dict) -> dict:
    """The POST /orders body of pos-api.md. Deterministic: the same record, the same body."""
    details = doc["order_details"]
    fulfillment = details.get("fulfillment") or {}
    return {
        "external_id": doc["request_uid"],
        "location_id": doc["location_id"],
        "items": [_line(line) for line in details["items"]],
        "totals": {name: money_to_cents(details.get(name)) for name in TOTALS},
        "fulfillment": fulfillment,
        "customer": details.get("customer") or {},
        "scheduled_for": fulfillment.get("promised_at") if doc.get("schedule_type") == "future" else None,
    }
