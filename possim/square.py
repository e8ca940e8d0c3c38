"""Square's Orders API in the simulator, under /v2, beside the REST POS's routes and on the same
ledger and knobs (so POS_ADAPTER=square talks to the same `python -m possim`):

- GET /v2/locations, GET /v2/locations/{id}; GET /v2/catalog/list (square_catalog.py)
- POST /v2/orders (CreateOrder: `idempotency_key` in the body; 200 with the order, new or
  replayed; 400 IDEMPOTENCY_KEY_REUSED for another body; 409 while a call with the key is in
  progress, which Square does not document)
- POST /v2/orders/search (location_ids, a created_at range that requires sort_field CREATED_AT,
  limit and cursor)
- PUT /v2/orders/{id} (UpdateOrder, only to cancel: the current `version`, every open fulfillment
  canceled with it; 400 VERSION_MISMATCH; 400 once the order is COMPLETED or CANCELED; a used
  idempotency key answers 200 with the order as it is, applying nothing)

Knobs: latency, jitter, errors, hang, ambiguous errors and `down` as for POST /orders;
`lookup_down`, `lookup_latency_ms` for searches; `accepting_orders` is the location's status;
`void_window_ms` is how long an order stays OPEN before it reads COMPLETED; `honour_not_after`
is moot (a Square order has no deadline).
"""

import threading
import time

from flask import Blueprint, current_app, jsonify, request

from possim import square_catalog
from possim.ledger import Ledger
from possim.orderbody import body_hash
from possim.records import now_iso
from possim.responses import get_ledger
from possim.square_shapes import (
    CANCELED,
    OPEN,
    SquareError,
    check_create,
    down,
    error,
    ledger_body,
    order_json,
    state_of,
)

BOOK_KEY = "possim.square"
DEFAULT_VERSION = "2025-05-21"
square = Blueprint("possim_square", __name__, url_prefix="/v2")


class Book:
    """What the ledger does not keep for Square: each order's CreateOrder `order`, its version,
    the UpdateOrder keys used on it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.orders: dict[str, dict] = {}

    def entry(self, pos_order_id: str) -> dict:
        return self.orders.setdefault(pos_order_id, {"request": None, "version": 1, "update_keys": set()})


def get_book() -> Book:
    return current_app.extensions.setdefault(BOOK_KEY, Book())


def _show(ledger: Ledger, record: dict) -> dict:
    entry = get_book().entry(record["pos_order_id"])
    knobs = ledger.knobs_for(record["location_id"])
    currency = (ledger.location(record["location_id"]) or {}).get("currency", "USD")
    return order_json(record, entry["request"], entry["version"], knobs["void_window_ms"], currency)


def _record(ledger: Ledger, pos_order_id: str) -> dict | None:
    return next((o for o in ledger.ledger_view()["orders"] if o["pos_order_id"] == pos_order_id), None)


@square.after_request
def _stamp(response):
    response.headers["Square-Version"] = request.headers.get("Square-Version", DEFAULT_VERSION)
    if request.method == "POST" and request.path == "/v2/orders":
        get_ledger().count_answer(response.status_code)
    return response


@square.get("/locations")
def list_locations():
    ledger = get_ledger()
    return jsonify({"locations": [square_catalog.location(ledger, loc) for loc in square_catalog.location_ids(ledger)]})


@square.get("/locations/<location_id>")
def retrieve_location(location_id):
    ledger = get_ledger()
    if ledger.knobs_for(location_id)["down"]:
        return down()
    found = square_catalog.location(ledger, location_id)
    if found is None:
        return error(404, "NOT_FOUND", f"Location {location_id} not found", "location_id")
    return jsonify({"location": found})


@square.get("/catalog/list")
def list_catalog():
    return jsonify({"objects": square_catalog.catalog(get_ledger())})


@square.post("/orders")
def create_order():
    received_at = now_iso()
    body = request.get_json(force=True, silent=True)
    try:
        check_create(body)
    except SquareError as exc:
        return error(exc.status, exc.code, exc.detail, exc.field)
    ledger, order, key = get_ledger(), body["order"], body["idempotency_key"]
    if order.get("reference_id"):
        ledger.count_call(order["reference_id"], "posts")
    knobs = ledger.knobs_for(order["location_id"])
    if knobs["down"]:
        return down()
    claim = ledger.claim(key, body_hash(body), order.get("reference_id") or "", order["location_id"])
    if claim.kind in ("replay", "voided") and claim.order is not None:  # a canceled one shows CANCELED
        return jsonify({"order": _show(ledger, _record(ledger, claim.order["pos_order_id"]))})
    if claim.kind == "voided":
        return error(400, "BAD_REQUEST", "this reference was voided through the REST routes")
    if claim.kind == "reused":
        return error(
            400, "IDEMPOTENCY_KEY_REUSED", "The provided idempotency key has already been used.", "idempotency_key"
        )
    if claim.kind == "in_progress":
        return error(409, "CONFLICT", "a call with this idempotency_key is in progress")
    try:
        return _create(ledger, claim, order, knobs, received_at)
    finally:
        ledger.release(claim)


REFUSALS = {
    "location_unknown": (404, "NOT_FOUND", "order.location_id"),
    "location_closed": (400, "BAD_REQUEST", "order.location_id"),
    "item_unavailable": (400, "INVALID_VALUE", "order.line_items"),
}


def _create(ledger: Ledger, claim, order: dict, knobs: dict, received_at: str):
    if knobs["hang_seconds"] > 0:
        time.sleep(knobs["hang_seconds"])
        return error(503, "SERVICE_UNAVAILABLE", "the POS hung and gave up (knob 'hang_seconds')")
    delay_ms = knobs["latency_ms"] + knobs["latency_jitter_ms"] * ledger.random()
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if knobs["error_rate"] > 0 and ledger.random() < knobs["error_rate"]:
        status = knobs["error_status"]
        code = {429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE"}.get(
            status, "INTERNAL_SERVER_ERROR" if status >= 500 else "BAD_REQUEST"
        )
        return error(
            status,
            code,
            "injected failure (knob 'error_rate')",
            headers={"Retry-After": "1"} if status in (429, 503) else None,
        )
    rate = (ledger.location(order["location_id"]) or {}).get("tax_rate", "0")
    placement = ledger.place(claim, ledger_body(order, rate), received_at)
    if placement.order is None:
        status, code, field = REFUSALS.get(placement.code or "", (400, "BAD_REQUEST", None))
        return error(status, code, placement.message or "refused", field)
    book = get_book()
    with book.lock:
        book.entry(placement.order["pos_order_id"])["request"] = order
    if knobs["ambiguous_error_rate"] > 0 and ledger.random() < knobs["ambiguous_error_rate"]:
        return error(
            500, "INTERNAL_SERVER_ERROR", "the order was created, then the POS failed (knob 'ambiguous_error_rate')"
        )
    return jsonify({"order": _show(ledger, _record(ledger, placement.order["pos_order_id"]))})


@square.post("/orders/search")
def search_orders():
    body = request.get_json(force=True, silent=True) or {}
    ids = body.get("location_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 10 or not all(isinstance(i, str) for i in ids):
        return error(400, "INVALID_VALUE", "location_ids must hold 1 to 10 location ids", "location_ids")
    query = body.get("query") or {}
    created = (((query.get("filter") or {}).get("date_time_filter") or {}).get("created_at")) or {}
    sort = query.get("sort") or {}
    if created and sort.get("sort_field", "CREATED_AT") != "CREATED_AT":
        return error(400, "BAD_REQUEST", "a created_at filter needs sort_field CREATED_AT", "query.sort.sort_field")
    ledger = get_ledger()
    knobs = [ledger.knobs_for(loc) for loc in ids]
    if any(k["down"] for k in knobs):
        return down()
    delay_ms = max(k["lookup_latency_ms"] for k in knobs)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if any(k["lookup_down"] for k in knobs):
        return error(503, "SERVICE_UNAVAILABLE", "lookups are down (knob 'lookup_down')")
    start, end = created.get("start_at") or "", created.get("end_at") or "9999"
    found = [
        o for o in ledger.ledger_view()["orders"] if o["location_id"] in ids and start <= o["created_at"] <= end
    ]  # ISO UTC strings compare in time order
    found.sort(key=lambda o: (o["created_at"], o["pos_order_id"]), reverse=sort.get("sort_order", "DESC") == "DESC")
    offset, limit = int(body.get("cursor") or 0), min(int(body.get("limit") or 500), 1000)
    page = {"orders": [_show(ledger, o) for o in found[offset : offset + limit]]}
    if offset + limit < len(found):
        page["cursor"] = str(offset + limit)
    return jsonify(page)


@square.put("/orders/<order_id>")
def update_order(order_id):
    body = request.get_json(force=True, silent=True) or {}
    sparse, key = body.get("order") or {}, body.get("idempotency_key")
    ledger = get_ledger()
    record = _record(ledger, order_id)
    if record is None:
        return error(404, "NOT_FOUND", f"Order {order_id} not found")
    if ledger.knobs_for(record["location_id"])["down"]:
        return down()
    ledger.count_call(record["external_id"], "voids")
    book = get_book()
    with book.lock:
        entry = book.entry(order_id)
        if key and key in entry["update_keys"]:  # a used key: the order as it is, nothing applied
            return jsonify({"order": _show(ledger, record)})
        state, _ = state_of(record, ledger.knobs_for(record["location_id"])["void_window_ms"])
        if state != OPEN:
            return error(400, "BAD_REQUEST", f"Orders with a {state} state cannot be updated", "order.state")
        if sparse.get("version") != entry["version"]:
            return error(
                400,
                "VERSION_MISMATCH",
                f"Supplied version {sparse.get('version')} does not match the "
                f"current version {entry['version']} of order {order_id}.",
                "order.version",
            )
        if sparse.get("state") != CANCELED:
            return error(400, "BAD_REQUEST", "the simulator's UpdateOrder only cancels", "order.state")
        fulfillments = (entry["request"] or {}).get("fulfillments") or []
        canceled = {f.get("uid") for f in sparse.get("fulfillments") or [] if f.get("state") == CANCELED}
        if any(f.get("uid") not in canceled for f in fulfillments):
            return error(400, "BAD_REQUEST", "the order's fulfillments must be canceled with it", "order.fulfillments")
        done = ledger.void(record["external_id"], "canceled by UpdateOrder")
        if done.code != "voided":
            return error(400, "BAD_REQUEST", done.message or "the order can no longer be canceled", "order.state")
        entry["version"] += 1
        if key:
            entry["update_keys"].add(key)
    return jsonify({"order": _show(ledger, _record(ledger, order_id))})
