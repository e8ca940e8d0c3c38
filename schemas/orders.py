"""Order request and response bodies (posnext-api.md, "Request body")."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates

from app.orders.lifecycle import ANSWER_STATUSES
from schemas.fields import MAX_CHILDREN, MAX_LINES, BoundedList, Id, Key, Money, Timestamp, first_cap, port_problem

ITEM_TYPES = ("Item", "Modifier", "Discount", "Combo", "Promotion", "Memo")
STATUSES = ANSWER_STATUSES  # what an answer may say: validated, or an order status
REQUEST_TYPES = ("validate-order", "place-order")
# Fields only the service sets (posnext-api.md, "Polling"): never taken from a request.
SERVICE_ONLY_DETAILS = ("pos_order_id", "status", "completed_at")


class FulfillmentSchema(Schema):
    class Meta:
        unknown = INCLUDE

    mode = fields.String(validate=validate.Length(max=32))
    promised_at = Timestamp(allow_none=True)


class CustomerSchema(Schema):
    class Meta:
        unknown = INCLUDE

    name = fields.String(validate=validate.Length(max=200))
    phone = fields.String(validate=validate.Length(max=40))
    email = fields.String(validate=validate.Length(max=254))


class ChildLineSchema(Schema):
    """A child of a line; a child's quantity is per one unit of its parent."""

    class Meta:
        unknown = INCLUDE

    id = Id(required=True)
    name = fields.String(validate=validate.Length(max=200))
    item_type = fields.String(required=True, validate=validate.OneOf(ITEM_TYPES))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 999))
    unit_price = Money(load_default=None)
    note = fields.String(validate=validate.Length(max=500), allow_none=True)
    children = BoundedList(
        fields.Raw(), max_length=0, too_many="nesting deeper than one level of children is not supported"
    )


class LineSchema(ChildLineSchema):
    children = BoundedList(fields.Nested(ChildLineSchema), max_length=MAX_CHILDREN, load_default=list)


class PaymentSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    amount = Money(required=True)
    reference = fields.String(validate=validate.Length(max=128))


class OrderDetailsSchema(Schema):
    """Ours: PAR publishes no schema. Fields it sends that we do not name are kept."""

    class Meta:
        unknown = INCLUDE

    online_order_id = fields.String(validate=validate.Length(max=128))
    fulfillment = fields.Nested(FulfillmentSchema)
    customer = fields.Nested(CustomerSchema)
    items = BoundedList(fields.Nested(LineSchema), max_length=MAX_LINES, required=True, validate=validate.Length(min=1))
    subtotal = Money(required=True)
    discount_total = Money(load_default=None)
    tax = Money(required=True)
    tip = Money(load_default=None)
    grand_total = Money(required=True)
    payments = BoundedList(fields.Nested(PaymentSchema), max_length=20)
    pos_order_id = fields.String(dump_only=True)

    @pre_load
    def _count_lines(self, data: object, **kwargs: object) -> object:
        # the caps first, counted: a line with too many children costs no error for each line before it
        cap = first_cap(data.get("items")) if isinstance(data, dict) else None
        if cap:
            raise ValidationError(cap)
        return data

    @validates("online_order_id")
    def _no_separator(self, value: str, **kwargs: object) -> None:
        if "|" in value:
            raise ValidationError("must not contain '|' (the digest's separator)")

    @post_load
    def _drop_service_fields(self, data: dict[str, Any], **kwargs: object) -> dict[str, Any]:
        # dump_only fields are "unknown" on load, and unknown fields are kept: drop them here
        for name in SERVICE_ONLY_DETAILS:
            data.pop(name, None)
        return data


class OrderRequestSchema(Schema):
    """The body of validate and submit. Unknown top-level fields are ignored."""

    class Meta:
        unknown = EXCLUDE

    request_uid = Key(required=True)
    request_type = fields.String(required=True, validate=validate.OneOf(REQUEST_TYPES))
    request_datetime = Timestamp(required=True)
    location_id = Key(required=True)
    order_details = fields.Nested(OrderDetailsSchema, required=True)
    schedule_type = fields.String(load_default="current", validate=validate.OneOf(("current", "future")))
    callback_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, allow_none=True, validate=validate.Length(max=2048)
    )
    ttl = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 7 * 24 * 3600))
    received_at = Timestamp(allow_none=True)
    completed_at = Timestamp(allow_none=True)

    @validates("callback_url")
    def _callable(self, value: str | None, **kwargs: object) -> None:
        why = port_problem(value) if value else None
        if why:
            raise ValidationError(why)

    @post_load
    def _drop_service_fields(self, data: dict[str, Any], **kwargs: object) -> dict[str, Any]:
        data.pop("completed_at", None)  # the service sets it when the order is final
        return data


class ErrorItemSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field = fields.String()
    expected = fields.Dict(
        metadata={
            "description": "totals_mismatch: the computed subtotal, discount_total, tax, tip and grand_total (never "
            "in the signed fields)"
        }
    )


class OrderResponseSchema(Schema):
    """An order's state: what validate, submit and polling answer, and every error envelope."""

    request_uid = fields.String(allow_none=True)
    request_type = fields.String()
    request_datetime = fields.String()
    location_id = fields.String(allow_none=True)
    schedule_type = fields.String()
    callback_url = fields.String(allow_none=True)
    ttl = fields.Integer(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    order_details = fields.Dict(
        metadata={
            "description": "order_details as sent, totals computed, pos_order_id once placed, unknown fields kept"
        }
    )
    received_at = fields.String()
    completed_at = fields.String(allow_none=True)
    cancel_requested_at = fields.String(
        metadata={"description": "while a cancel waits for the POS's answer (POST /posnext/orders/{orderId}/cancel)"}
    )
    errors = fields.List(fields.Nested(ErrorItemSchema), dump_default=list)


class OrderListSchema(Schema):
    orders = fields.List(fields.Nested(OrderResponseSchema), required=True)
    next = fields.String(
        allow_none=True,
        metadata={"description": "opaque cursor of the next page (pass it as `cursor`); null at the end"},
    )
    next_since = fields.String(allow_none=True, metadata={"description": "the same cursor, for `since`"})
    skipped = fields.Integer(metadata={"description": "records on this page that could not be read"})


class OrderListQuerySchema(Schema):
    """GET /posnext/orders: the recovery list for a client that lost an id."""

    class Meta:
        unknown = EXCLUDE

    location_id = Key(required=True)
    since = fields.String(
        validate=validate.Length(max=512),
        metadata={"description": "orders received at or after this ISO 8601 time (default 24 hours ago), or a cursor"},
    )
    cursor = fields.String(validate=validate.Length(max=512), metadata={"description": "`next` of the last page"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
