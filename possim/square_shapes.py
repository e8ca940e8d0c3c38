"""Square's wire shapes in the simulator, as pure functions: a CreateOrder body checked and read
as the ledger's order body, a ledger order shown as Square's Order, Square's error answers.
(The shapes the adapter builds are documented in app/pos/square_wire.py.)"""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import jsonify

from possim.records import VOIDED, iso

OPEN, COMPLETED, CANCELED = "OPEN", "COMPLETED", "CANCELED"
CATEGORIES = {401: "AUTHENTICATION_ERROR", 429: "RATE_LIMIT_ERROR"}


class SquareError(ValueError):
    """A request Square would answer 400 (or `status`) for, with its code and field."""

    def __init__(self, code: str, detail: str, field: str | None = None, status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.field, self.status = code, detail, field, status


def error(status: int, code: str, detail: str, field: str | None = None, headers: dict | None = None):
    """`{"errors": [{"category", "code", "detail", "field"}]}` with `status`."""
    category = CATEGORIES.get(status, "API_ERROR" if status >= 500 else "INVALID_REQUEST_ERROR")
    body = {"category": category, "code": code, "detail": detail}
    if field:
        body["field"] = field
    response = jsonify({"errors": [body]})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def down():
    return error(503, "SERVICE_UNAVAILABLE", "the POS is down (knob 'down')")


def _text(value, field, most=None) -> None:
    if not isinstance(value, str) or not value:
        raise SquareError("MISSING_REQUIRED_PARAMETER", f"{field} is required", field)
    if most is not None and len(value) > most:
        raise SquareError("VALUE_TOO_LONG", f"{field} must be at most {most} characters", field)


def _money(value, field) -> int:
    amount = value.get("amount") if isinstance(value, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise SquareError("EXPECTED_INTEGER", f"{field}.amount must be a whole number of the smallest unit", field)
    if not isinstance(value.get("currency"), str) or len(value["currency"]) != 3:
        raise SquareError("INVALID_VALUE", f"{field}.currency must be an ISO 4217 code", field)
    return amount


def _quantity(value, field) -> int:
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or number != number.to_integral_value() or number < 0:
        raise SquareError("INVALID_VALUE", f"{field} must be a whole number, as a string", field)
    return int(number)


def check_create(body) -> None:
    """Raise SquareError unless `body` is a CreateOrder request the simulator takes."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise SquareError("EXPECTED_JSON_BODY", 'the body must be {"order": {...}, "idempotency_key": ...}')
    _text(body.get("idempotency_key"), "idempotency_key", 192)
    order = body["order"]
    _text(order.get("location_id"), "order.location_id")
    if order.get("reference_id") is not None:
        _text(order["reference_id"], "order.reference_id", 40)
    lines = order.get("line_items")
    if not isinstance(lines, list) or not lines:
        raise SquareError("MISSING_REQUIRED_PARAMETER", "order.line_items must not be empty", "order.line_items")
    for n, line in enumerate(lines):
        at = f"order.line_items[{n}]"
        if not isinstance(line, dict):
            raise SquareError("INVALID_VALUE", f"{at} must be an object", at)
        _text(line.get("catalog_object_id"), f"{at}.catalog_object_id")
        if _quantity(line.get("quantity"), f"{at}.quantity") < 1:
            raise SquareError("VALUE_TOO_LOW", f"{at}.quantity must be at least 1", f"{at}.quantity")
        _money(line.get("base_price_money"), f"{at}.base_price_money")
        for m, modifier in enumerate(line.get("modifiers") or []):
            _text(
                modifier.get("catalog_object_id") if isinstance(modifier, dict) else None,
                f"{at}.modifiers[{m}].catalog_object_id",
            )
            _money(modifier.get("base_price_money"), f"{at}.modifiers[{m}].base_price_money")
            _quantity(modifier.get("quantity", "1"), f"{at}.modifiers[{m}].quantity")


def _cents(money) -> int:
    return money["amount"] if isinstance(money, dict) and isinstance(money.get("amount"), int) else 0


def ledger_body(order: dict, tax_rate: str) -> dict:
    """The CreateOrder `order` as the ledger's order body: lines and modifiers as items and
    children, the total as Square computes it (ORDER discounts, catalog tax, service charges)."""
    items, subtotal = [], 0
    for line in order["line_items"]:
        quantity = int(Decimal(line["quantity"]))
        children = [
            {
                "id": m["catalog_object_id"],
                "item_type": "Modifier",
                "quantity": int(Decimal(m.get("quantity", "1"))),
                "unit_price": _cents(m["base_price_money"]),
            }
            for m in line.get("modifiers") or []
        ]
        unit = _cents(line["base_price_money"]) + sum(c["unit_price"] * c["quantity"] for c in children)
        subtotal += unit * quantity
        items.append(
            {
                "id": line["catalog_object_id"],
                "item_type": "Item",
                "quantity": quantity,
                "unit_price": _cents(line["base_price_money"]),
                "children": children,
            }
        )
    discount = sum(_cents(d.get("amount_money")) for d in order.get("discounts") or [] if d.get("scope") == "ORDER")
    taxed = (Decimal(max(subtotal - discount, 0)) * Decimal(tax_rate or "0")).quantize(Decimal(1), ROUND_HALF_UP)
    tax = int(taxed) if (order.get("pricing_options") or {}).get("auto_apply_taxes") else 0
    service = sum(_cents(s.get("amount_money")) for s in order.get("service_charges") or [])
    totals = {
        "subtotal": subtotal,
        "discount_total": discount,
        "tax": tax,
        "tip": service,
        "grand_total": max(subtotal - discount, 0) + tax + service,
    }
    return {
        "external_id": order.get("reference_id") or "",
        "location_id": order["location_id"],
        "items": items,
        "totals": totals,
        "not_after": None,
    }


def state_of(record: dict, void_window_ms: float, now: datetime | None = None) -> tuple[str, str | None]:
    """The Square state of a ledger order and when it closed: CANCELED when voided; COMPLETED
    once past the void window (the kitchen has it: it can no longer be updated); else OPEN."""
    created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    if record["status"] == VOIDED:
        return CANCELED, record.get("voided_at")
    closes = created + timedelta(milliseconds=void_window_ms)
    if (now or datetime.now(UTC)) >= closes:
        return COMPLETED, iso(closes)
    return OPEN, None


def order_json(record: dict, request: dict | None, version: int, void_window_ms: float, currency: str) -> dict:
    """A ledger order (its record) as Square's Order, from the CreateOrder `order` that made it
    (None for an order made through the REST routes)."""
    state, closed_at = state_of(record, void_window_ms)
    request = request or {}
    fulfillment_state = {OPEN: None, COMPLETED: COMPLETED, CANCELED: CANCELED}[state]
    out = {
        "id": record["pos_order_id"],
        "location_id": record["location_id"],
        "reference_id": request.get("reference_id", record["external_id"]),
        "line_items": request.get("line_items", []),
        "state": state,
        "version": version,
        "created_at": record["created_at"],
        "updated_at": closed_at or record["created_at"],
        "total_money": {"amount": record["total"], "currency": currency},
    }
    for name in ("source", "metadata", "discounts", "service_charges", "pricing_options"):
        if name in request:
            out[name] = request[name]
    if request.get("fulfillments"):
        out["fulfillments"] = [
            dict(f, state=fulfillment_state or f.get("state", "PROPOSED")) for f in request["fulfillments"]
        ]
    if closed_at:
        out["closed_at"] = closed_at
    return out
