"""POST validate and submit, GET an order, GET the recovery list."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from app import jsonio
from app.auth import require_digest, require_jwt
from app.body import read_body
from app.errors import ApiError
from app.logs import bind_request_uid
from app.orders import paging
from app.orders.answers import NotDurable
from app.orders.keys import location_key
from app.orders.lifecycle import Status
from app.orders.order import Order
from app.orders.service import Conflict, NotCancellable, NotFound
from app.responses import signed_response
from app.times import parse_time
from schemas import fast_orders
from schemas.errors import flatten
from schemas.fields import KEY_RULE, is_key
from schemas.orders import OrderListQuerySchema, OrderRequestSchema

bp = Blueprint("orders", __name__)
_request_schema = OrderRequestSchema()
_list_schema = OrderListQuerySchema()
RETRY_AFTER = "1"
REASON_MAX = 200  # a cancel's reason, kept in the history
PAGE_MAX_BYTES = 1_000_000  # a recovery page's orders, in bytes of JSON (at least one order a page)
PAGE_SCAN_FACTOR = 4  # index entries examined per page, times its limit (a status filter skips some)


def _services():
    return current_app.extensions["posbridge"]


def read_order(expected_type: str) -> dict:
    """Checks in the order the spec fixes: size, content type, JSON and schema, digest."""
    limit = _services().settings.max_content_length
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the order as application/json")
    raw = read_body(limit)
    try:
        body = jsonio.loads(raw)
    except jsonio.BadJson as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    g.order_ids = {k: body.get(k) for k in ("request_uid", "location_id") if is_key(body.get(k))}
    bind_request_uid(g.order_ids.get("request_uid"))
    try:  # the plainly valid body, loaded without marshmallow's machinery; anything else by the schema
        order = fast_orders.load(body) or _request_schema.load(body)
    except ValidationError as exc:
        raise ApiError(
            400, "schema_invalid", "the body does not match the schema", errors=flatten(exc.messages)
        ) from None
    if order["request_type"] != expected_type:
        raise ApiError(
            400, "request_type_mismatch", f"request_type must be {expected_type!r} here", field="request_type"
        )
    require_digest(body)
    return order


@bp.post("/posnext/order/validate")
@bp.post("/posnext/orders/validate")
def validate():
    arrived = time.monotonic()
    require_jwt()
    order = read_order("validate-order")
    body = _services().service.validate(order, arrived)
    # the answer's ReceivedAtSeconds is the request's, never 0 (posnext-api.md, "Authentication and signing")
    body["request_datetime"] = order["request_datetime"]
    return signed_response(body)


@bp.post("/posnext/order/submit")
@bp.post("/posnext/orders/submit")
def submit():
    arrived = time.monotonic()
    require_jwt()
    order = read_order("place-order")
    try:
        status, body = _services().service.submit(order, arrived)
    except Conflict:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this request_uid was already used with a different payload",
            field="request_uid",
        ) from None
    except NotDurable:
        raise ApiError(
            503,
            "service_unavailable",
            "the order could not be recorded durably; nothing was promised: retry later",
            headers={"Retry-After": "5"},
        ) from None
    return _order_response(status, body)


def _order_response(status: int, body: dict, stored: bool = False):
    headers = {}
    if body.get("status") == Status.PENDING:
        headers = {"Location": f"/posnext/orders/{body['request_uid']}", "Retry-After": RETRY_AFTER}
    return signed_response(body, status, headers, stored=stored)


@bp.get("/posnext/orders/<path:request_uid>")
def get_order(request_uid: str):
    require_jwt()
    if request_uid.endswith("/cancel") and is_key(request_uid.removesuffix("/cancel")):  # the cancel route's
        raise ApiError(405, "method_not_allowed", "cancel with POST", headers={"Allow": "POST"})
    if not is_key(request_uid):  # never a key, path or log line of ours: `x:history`, `..`, a surrogate
        raise ApiError(400, "schema_invalid", f"orderId {KEY_RULE}", field="orderId")
    g.order_ids = {"request_uid": request_uid}
    bind_request_uid(request_uid)
    try:
        _, body = _services().service.answer(request_uid)
    except NotDurable:
        raise ApiError(
            503,
            "service_unavailable",
            "the order's record is not confirmed durable yet; retry later",
            headers={"Retry-After": "1"},
        ) from None
    except NotFound:
        raise ApiError(404, "order_unknown", f"no order with request_uid {request_uid!r}") from None
    headers = {"Retry-After": RETRY_AFTER} if body["status"] == Status.PENDING else {}
    return signed_response(body, 200, headers, stored=True)


@bp.post("/posnext/orders/<path:request_uid>/cancel")
def cancel_order(request_uid: str):
    """posnext-api.md, Cancel: 200 once decided, 202 while the POS is asked, 409 for another final."""
    arrived = time.monotonic()
    claims = require_jwt()
    if not is_key(request_uid):
        raise ApiError(400, "schema_invalid", f"orderId {KEY_RULE}", field="orderId")
    g.order_ids = {"request_uid": request_uid}
    bind_request_uid(request_uid)
    reason = _cancel_reason()
    try:
        status, body = _services().service.cancel(request_uid, _caller(claims), reason, arrived)
    except NotFound:
        raise ApiError(404, "order_unknown", f"no order with request_uid {request_uid!r}") from None
    except NotCancellable as exc:
        raise ApiError(
            409,
            "not_cancellable",
            f"the order is {exc.status}: a final state never changes (void a placed order in the POS itself)",
        ) from None
    except NotDurable:
        raise ApiError(
            503,
            "service_unavailable",
            "the order's record is not confirmed durable yet; retry later",
            headers={"Retry-After": "1"},
        ) from None
    return _order_response(status, body, stored=True)


def _cancel_reason() -> str:
    """The optional body {"reason": "..."} (at most 200 characters); no body is no reason."""
    limit = _services().settings.max_content_length
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    raw = read_body(limit)
    if not raw.strip():
        return ""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the reason as application/json")
    try:
        body = jsonio.loads(raw)
    except jsonio.BadJson as exc:
        raise ApiError(400, "invalid_json", str(exc)) from None
    reason = body.get("reason", "") if isinstance(body, dict) else None
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise ApiError(
            400, "schema_invalid", f"reason must be a string of at most {REASON_MAX} characters", field="reason"
        )
    return reason


def _caller(claims: dict) -> str:
    """Who asked, for the history: the JWT's subject (never the token)."""
    subject = claims.get("sub")
    return f"par:{subject}" if isinstance(subject, str) and is_key(subject) else "par"


@bp.get("/posnext/orders")
def list_orders():
    """The recovery list: pages strictly forward by an opaque cursor, bounded in count and bytes;
    a record that cannot be read is skipped, counted in `skipped` and logged."""
    require_jwt()
    try:
        query = _list_schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "schema_invalid", "bad query", errors=flatten(exc.messages)) from None
    since, after = _start(query)
    store, limit = _services().store, query["limit"]
    judge = _services().service.answers.page_judge()  # one durability probe per page at most
    # a status filter pages that status's own index: it reads only the orders it answers
    key = location_key(query["location_id"], query.get("status"))
    texts: list[str] = []
    size, skipped, examined, more, full = 0, 0, 0, True, False
    while more and not full and len(texts) < limit and examined < limit * PAGE_SCAN_FACTOR:
        want = min(limit * PAGE_SCAN_FACTOR - examined, limit - len(texts) + (20 if query.get("status") else 0))
        batch = paging.across(
            _services().redis,
            key,
            archive=store.archive,
            location=query["location_id"],
            count=want,
            since=since,
            after=after,
            status=query.get("status"),
        )
        more = len(batch) == want
        found: dict[str, Order | None] = {}
        for index, position in enumerate(batch):
            if position.member not in found:  # read as many as the page still needs, at once
                chunk = [p.member for p in batch[index : index + max(1, limit - len(texts))]]
                found.update(zip(chunk, store.get_many(chunk), strict=True))
            text, bad = _listed(store, judge, position.member, query.get("status"), found[position.member])
            skipped += bad
            if text is not None and texts and size + len(text) + 1 > PAGE_MAX_BYTES:
                more = full = True  # this one starts the next page
                break
            examined += 1
            after = position
            if text is not None:
                texts.append(text)
                size += len(text) + 1
                if len(texts) == limit:
                    more = more or index < len(batch) - 1
                    break
    cursor = paging.encode_cursor(after) if more and after is not None else None
    tail = jsonio.dumps({"next": cursor, "next_since": cursor, "skipped": skipped})
    return current_app.response_class('{"orders":[' + ",".join(texts) + "]," + tail[1:], mimetype="application/json")


def _start(query: dict) -> tuple[float | None, paging.Position | None]:
    """(since, after) of the page asked for: a cursor (in `cursor`, or in `since` as next_since
    hands it back), else an ISO time, else 24 hours ago."""
    for name in ("cursor", "since"):
        text = query.get(name)
        if text and text.startswith(paging.CURSOR_PREFIX):
            try:
                return None, paging.decode_cursor(text)
            except ValueError:
                raise ApiError(400, "schema_invalid", "not a cursor of this service", field=name) from None
        if text and name == "cursor":
            raise ApiError(400, "schema_invalid", "not a cursor of this service", field=name)
    if query.get("since"):
        moment = parse_time(query["since"])
        if moment is None:
            raise ApiError(
                400, "schema_invalid", "since must be an ISO 8601 time with a zone or a cursor", field="since"
            )
        return moment.timestamp(), None
    return time.time() - 86400, None


def _listed(store, judge, uid: str, status: str | None, order) -> tuple[str | None, int]:
    """(the order's JSON as the one answer path judges it, 0), or (None, 0) when filtered out,
    gone or never confirmed durable, or (None, 1) when its record exists but cannot be read
    (store.get_many already logged and counted it, and answers None). `order`: as the page's
    one get_many read it (Redis, then the archive for the rest)."""
    if order is None:
        return None, int(store.exists(uid))
    body = judge(order)
    if body is None or (status and body["status"] != status):
        return None, 0
    return jsonio.dumps(body), 0
