"""POST validate and submit, GET an order, GET the recovery list."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from app import jsonio
from app.auth import require_digest, require_jwt, signed_response
from app.errors import ApiError
from app.logs import bind_request_uid
from app.orders.records import view
from app.orders.service import Conflict, NotFound
from app.times import parse_time
from schemas.errors import flatten
from schemas.orders import OrderListQuerySchema, OrderRequestSchema

bp = Blueprint("orders", __name__)
_request_schema = OrderRequestSchema()
_list_schema = OrderListQuerySchema()
RETRY_AFTER = "1"


def _services():
    return current_app.extensions["posbridge"]


def read_order(expected_type: str) -> dict:
    """Checks in the order the spec fixes: size, content type, JSON and schema, digest."""
    limit = _services().settings.max_content_length
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the order as application/json")
    try:
        body = jsonio.loads(request.get_data(cache=False))
    except jsonio.BadJson as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    g.order_ids = {k: body.get(k) for k in ("request_uid", "location_id") if isinstance(body.get(k), str)}
    bind_request_uid(g.order_ids.get("request_uid"))
    try:
        order = _request_schema.load(body)
    except ValidationError as exc:
        raise ApiError(400, "schema_invalid", "the body does not match the schema",
                       errors=flatten(exc.messages)) from None
    if order["request_type"] != expected_type:
        raise ApiError(400, "request_type_mismatch", f"request_type must be {expected_type!r} here",
                       field="request_type")
    require_digest(body)
    return order


@bp.post("/posnext/order/validate")
@bp.post("/posnext/orders/validate")
def validate():
    arrived = time.monotonic()
    require_jwt()
    order = read_order("validate-order")
    return signed_response(_services().service.validate(order, arrived))


@bp.post("/posnext/order/submit")
@bp.post("/posnext/orders/submit")
def submit():
    arrived = time.monotonic()
    require_jwt()
    order = read_order("place-order")
    try:
        status, body = _services().service.submit(order, arrived)
    except Conflict:
        raise ApiError(409, "idempotency_conflict",
                       "this request_uid was already used with a different payload", field="request_uid") from None
    return _order_response(status, body)


def _order_response(status: int, body: dict):
    headers = {}
    if body.get("status") == "pending":
        headers = {"Location": f"/posnext/orders/{body['request_uid']}", "Retry-After": RETRY_AFTER}
    return signed_response(body, status, headers)


@bp.get("/posnext/orders/<path:request_uid>")
def get_order(request_uid: str):
    require_jwt()
    g.order_ids = {"request_uid": request_uid}
    bind_request_uid(request_uid)
    try:
        _, body = _services().service.answer(request_uid)
    except NotFound:
        raise ApiError(404, "order_unknown", f"no order with request_uid {request_uid!r}") from None
    headers = {"Retry-After": RETRY_AFTER} if body["status"] == "pending" else {}
    return signed_response(body, 200, headers)


@bp.get("/posnext/orders")
def list_orders():
    require_jwt()
    try:
        query = _list_schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "schema_invalid", "bad query", errors=flatten(exc.messages)) from None
    since = parse_time(query["since"]).timestamp() if query.get("since") else time.time() - 86400
    store = _services().store
    orders = []
    uids = store.recent(since=since, limit=query["limit"], location_id=query["location_id"])
    for uid in uids:
        order = store.get(uid)
        if order is not None and (not query.get("status") or order.status == query["status"]):
            orders.append(view(order.doc))
    last = store.get(uids[-1]) if len(uids) == query["limit"] else None
    body = {"orders": orders, "next_since": jsonio.iso(last.created) if last else None}
    return current_app.response_class(jsonio.dumps(body), mimetype="application/json")
