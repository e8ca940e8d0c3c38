"""The order request schema: money as Decimal, unknown fields, required fields, nesting."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from app import jsonio
from schemas.errors import MAX_ERRORS, flatten
from schemas.orders import OrderRequestSchema
from tests.support.factories import sample_order

SCHEMA = OrderRequestSchema()


def load(order: dict) -> dict:
    return SCHEMA.load(jsonio.loads(jsonio.dumps(order)))


def errors_of(order: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        SCHEMA.load(order)
    return {e.get("field", ""): e["message"] for e in flatten(caught.value.messages)}


def test_a_sample_order_loads_with_money_as_decimal():
    loaded = load(sample_order(uid="ord-1"))
    details = loaded["order_details"]
    for name in ("subtotal", "tax", "tip", "grand_total"):
        assert isinstance(details[name], Decimal)
    assert details["items"][0]["unit_price"] == Decimal("8.99")
    assert details["items"][0]["children"][0]["unit_price"] == Decimal("1.50")
    assert loaded["schedule_type"] == "current"


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.005"),
        Decimal("0.001"),
        "1.00",
        "8.99",
        True,
        False,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        8.99,
        Decimal("-0.01"),
        Decimal("1000000.01"),
        [1],
        {"amount": 1},
    ],
    ids=repr,
)
def test_money_that_is_not_a_decimal_number_with_two_places_is_refused(value):
    order = sample_order(uid="ord-1")
    order["order_details"]["items"][0]["unit_price"] = value
    assert "order_details.items.0.unit_price" in errors_of(order)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1.5"), Decimal("1.50")),
        (2, Decimal("2.00")),
        (Decimal("1.000"), Decimal("1.00")),
        (0, Decimal("0.00")),
        (Decimal("1000000"), Decimal("1000000.00")),
    ],
)
def test_money_within_two_places_is_read_exactly(value, expected):
    order = sample_order(uid="ord-1")
    order["order_details"]["tip"] = value
    loaded = SCHEMA.load(order)["order_details"]["tip"]
    assert loaded == expected and isinstance(loaded, Decimal) and str(loaded) == str(expected)


def test_json_money_is_parsed_as_decimal_and_nan_is_not_json():
    assert jsonio.loads(b'{"a": 1.005}') == {"a": Decimal("1.005")}
    for text in (b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'):
        with pytest.raises(jsonio.BadJson):
            jsonio.loads(text)


def test_required_money_cannot_be_null():
    order = sample_order(uid="ord-1")
    order["order_details"]["grand_total"] = None
    assert "order_details.grand_total" in errors_of(order)


REQUIRED = [
    ("request_uid",),
    ("request_type",),
    ("request_datetime",),
    ("location_id",),
    ("order_details",),
    ("order_details", "items"),
    ("order_details", "subtotal"),
    ("order_details", "tax"),
    ("order_details", "grand_total"),
    ("order_details", "items", 0, "id"),
    ("order_details", "items", 0, "item_type"),
    ("order_details", "items", 0, "quantity"),
    ("order_details", "items", 0, "children", 0, "id"),
    ("order_details", "items", 0, "children", 0, "item_type"),
    ("order_details", "items", 0, "children", 0, "quantity"),
    ("order_details", "payments", 0, "type"),
    ("order_details", "payments", 0, "amount"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=[".".join(map(str, p)) for p in REQUIRED])
def test_each_required_field(path):
    order = sample_order(uid="ord-1")
    parent = order
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    assert ".".join(map(str, path)) in errors_of(order)


OPTIONAL = {
    "schedule_type": "current",
    "callback_url": "https://par.example/cb",
    "ttl": 60,
    "received_at": "2026-12-07T10:00:00.000Z",
    "completed_at": "2026-12-07T10:00:01.000Z",
}


@pytest.mark.parametrize("optional", sorted(OPTIONAL))
def test_optional_fields_may_be_absent(optional):
    order = sample_order(uid="ord-1", **OPTIONAL)
    SCHEMA.load(order)  # the order with every optional field loads
    del order[optional]
    assert optional not in order and SCHEMA.load(order)["request_uid"] == "ord-1"  # and without this one


def test_unknown_order_details_fields_are_kept_at_every_level():
    order = sample_order(uid="ord-1")
    details = order["order_details"]
    details["loyalty"] = {"member": "L-42", "points": 120}
    details["channel"] = "kiosk"
    details["items"][0]["kitchen_tag"] = "grill"
    details["items"][0]["children"][0]["seat"] = 2
    details["fulfillment"]["curbside_spot"] = "7"
    details["customer"]["tier"] = "gold"
    details["payments"][0]["last4"] = "4242"
    loaded = load(order)["order_details"]
    assert loaded["loyalty"] == {"member": "L-42", "points": 120}
    assert loaded["channel"] == "kiosk"
    assert loaded["items"][0]["kitchen_tag"] == "grill"
    assert loaded["items"][0]["children"][0]["seat"] == 2
    assert loaded["fulfillment"]["curbside_spot"] == "7"
    assert loaded["customer"]["tier"] == "gold"
    assert loaded["payments"][0]["last4"] == "4242"


def test_unknown_top_level_fields_are_ignored():
    order = sample_order(uid="ord-1", brand_id="b-9", debug={"x": 1})
    loaded = load(order)
    assert "brand_id" not in loaded and "debug" not in loaded


@pytest.mark.parametrize("value", ["cancel-order", "", "PLACE-ORDER", None, 1])
def test_request_type_must_be_one_of_the_two(value):
    assert "request_type" in errors_of(sample_order(uid="ord-1", request_type=value))


def test_children_of_children_are_refused():
    order = sample_order(uid="ord-1")
    child = order["order_details"]["items"][0]["children"][0]
    child["children"] = [{"id": "mod-003", "item_type": "Modifier", "quantity": 1, "unit_price": Decimal("2.00")}]
    errors = errors_of(order)
    assert "order_details.items.0.children.0.children" in errors


def test_an_empty_children_list_on_a_child_is_fine():
    order = sample_order(uid="ord-1")
    order["order_details"]["items"][0]["children"][0]["children"] = []
    SCHEMA.load(order)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 0),
        ("quantity", 1000),
        ("quantity", "2"),
        ("quantity", True),
        ("quantity", Decimal("2.0")),
        ("item_type", "Side"),
        ("id", ""),
        ("id", "x" * 129),
    ],
)
def test_line_fields_are_checked(field, value):
    order = sample_order(uid="ord-1")
    order["order_details"]["items"][0][field] = value
    assert f"order_details.items.0.{field}" in errors_of(order)


def test_an_order_needs_at_least_one_line():
    order = sample_order(uid="ord-1")
    order["order_details"]["items"] = []
    assert "order_details.items" in errors_of(order)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_datetime", "2026-11-23 18:00"),
        ("request_datetime", "2026-11-23T18:00:00"),
        ("request_datetime", "yesterday"),
        ("request_uid", "a/b"),
        ("request_uid", "tab\there"),
        ("request_uid", ""),
        ("location_id", ""),
        ("schedule_type", "later"),
        ("callback_url", "ftp://x.example/cb"),
        ("callback_url", "not a url"),
        ("ttl", 0),
        ("ttl", "60"),
        ("ttl", True),
        ("received_at", "soon"),
    ],
)
def test_top_level_fields_are_checked(field, value):
    assert field in errors_of(sample_order(uid="ord-1", **{field: value}))


def test_promised_at_must_be_a_time_with_a_zone():
    order = sample_order(uid="ord-1")
    order["order_details"]["fulfillment"]["promised_at"] = "2026-11-23T18:30:00"
    assert "order_details.fulfillment.promised_at" in errors_of(order)


def test_an_iso_time_with_an_offset_is_accepted_and_kept_as_sent():
    loaded = load(sample_order(uid="ord-1", request_datetime="2026-11-23T13:00:00.000-05:00"))
    assert loaded["request_datetime"] == "2026-11-23T13:00:00.000-05:00"


def test_loading_does_not_change_the_input():
    order = sample_order(uid="ord-1")
    order["order_details"]["loyalty"] = {"member": "L-42"}
    before = copy.deepcopy(order)
    SCHEMA.load(order)
    assert order == before


def test_every_schema_error_is_listed_with_its_field():
    order = sample_order(uid="ord-1", request_type="nope")
    del order["location_id"]
    order["order_details"]["items"][0]["quantity"] = 0
    fields = errors_of(order)
    assert {"request_type", "location_id", "order_details.items.0.quantity"} <= set(fields)


# -- issue 11 ---------------------------------------------------------------------------
def _load(body):
    return OrderRequestSchema().load(body)


@pytest.mark.parametrize("value", ["a:history", "a|b", "a/b", "a b", "é", "\x1b[2J", "", "x" * 129, "a\n"])
@pytest.mark.parametrize("field", ["request_uid", "location_id"])
def test_ids_outside_the_key_set_are_refused(field, value):
    with pytest.raises(ValidationError) as caught:
        _load(sample_order(**{field: value}))
    assert field in caught.value.messages


@pytest.mark.parametrize("value", ["a", "A-z_0.9~", "x" * 128, "..", "."])
def test_ids_of_the_key_set_are_accepted(value):
    assert _load(sample_order(uid=value))["request_uid"] == value


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://h:0/", "https://h:65536/cb"])
def test_a_callback_port_out_of_range_is_refused(url):
    """Issue 11, finding 6."""
    with pytest.raises(ValidationError) as caught:
        _load(sample_order(callback_url=url))
    assert "callback_url" in caught.value.messages


def test_service_only_fields_are_never_taken_from_a_request():
    """Issue 11, finding 9."""
    body = sample_order()
    body["order_details"].update(pos_order_id="P-EVIL", status="placed", completed_at="2026-01-01T00:00:00.000Z")
    body["completed_at"] = "2026-01-01T00:00:00.000Z"
    loaded = _load(body)
    assert not {"pos_order_id", "status", "completed_at"} & set(loaded["order_details"])
    assert "completed_at" not in loaded


def test_a_long_item_list_is_one_error_not_thousands():
    """Issue 11, finding 11."""
    body = sample_order()
    body["order_details"]["items"] = [{}] * 6500
    with pytest.raises(ValidationError) as caught:
        _load(body)
    assert len(flatten(caught.value.messages)) == 1


def test_the_errors_listed_are_capped():
    from schemas.errors import MAX_ERRORS

    errors = flatten({"items": {i: {"id": ["Missing"]} for i in range(500)}})
    assert len(errors) == MAX_ERRORS + 1 and errors[-1]["code"] == "too_many_errors"
    assert "450" in errors[-1]["message"]


def test_the_separator_is_refused_in_online_order_id():
    """Issue 11, finding 16."""
    body = sample_order()
    body["order_details"]["online_order_id"] = "ON|1"
    with pytest.raises(ValidationError):
        _load(body)


def _leaves(messages) -> int:
    if isinstance(messages, dict):
        return sum(_leaves(v) for v in messages.values())
    if isinstance(messages, list) and not all(isinstance(m, str) for m in messages):
        return sum(_leaves(v) for v in messages)
    return len(messages) if isinstance(messages, list) else 1


def test_errors_built_before_the_digest_are_bounded():
    """Issue 23, finding 4: 200 items x 50 children of {} built 30,000 errors (474 ms) before the digest was checked,
    to answer 50 of them: the load stops once more than MAX_ERRORS are built."""
    body = sample_order()
    body["order_details"]["items"] = [{"id": "i", "item_type": "Item", "quantity": 1, "children": [{}] * 50}] * 200
    with pytest.raises(ValidationError) as caught:
        OrderRequestSchema().load(body)
    assert _leaves(caught.value.messages) <= MAX_ERRORS + 3
    assert flatten(caught.value.messages)[-1]["code"] == "too_many_errors"


def test_the_first_cap_is_counted_before_any_error_is_built():
    """Issue 23, finding 4: A line with too many children is found by counting, before the bad lines ahead of it
    cost an error each."""
    body = sample_order()
    lines = [{"id": "", "item_type": "Nope", "quantity": 0}] * 149 + [
        {"id": "i", "item_type": "Item", "quantity": 1, "children": [{}] * 51}
    ]
    body["order_details"]["items"] = lines
    with pytest.raises(ValidationError) as caught:
        OrderRequestSchema().load(body)
    assert flatten(caught.value.messages) == [
        {"code": "schema_invalid", "field": "order_details.items.149.children", "message": "at most 50 entries"}
    ]
