"""The simulator's Square routes (possim/square.py): Square's shapes and rules on the shared
ledger and knobs: CreateOrder idempotency, SearchOrders' window and paging, UpdateOrder's
version and cancel rules, the void window read as COMPLETED, the location's status."""

import json
import random

import pytest

from app.orders.order import new_record
from app.pos import square_wire
from possim.app import create_app
from tests.support.factories import sample_order
from tests.support.possim import AUTH, TOKEN, knobs

SEARCH = {"location_ids": ["loc-001"], "query": {"sort": {"sort_field": "CREATED_AT", "sort_order": "DESC"}}}


@pytest.fixture
def client():
    return create_app(TOKEN, rng=random.Random(5)).test_client()


def body(uid="req-1", location="loc-001", deadline=1_900_000_000.0):
    return json.loads(square_wire.order_body(new_record(sample_order(uid=uid), 0.0), deadline, location))


def create(client, sent=None):
    return client.post("/v2/orders", json=sent or body(), headers={**AUTH, "Square-Version": "2024-01-18"})


def search(client, **extra):
    return client.post("/v2/orders/search", json={**SEARCH, **extra}, headers=AUTH)


def cancel(client, order, key="k1", **changes):
    sent = square_wire.cancel_body(order, "req-1", "test")
    sent["order"].update(changes)
    sent["idempotency_key"] = key
    return client.put(f"/v2/orders/{order['id']}", json=sent, headers=AUTH)


def code(answer):
    return answer.get_json()["errors"][0]["code"]


def test_create_answers_the_order_and_a_replay_the_same_one(client):
    first = create(client)
    assert first.status_code == 200 and first.headers["Square-Version"] == "2024-01-18"
    order = first.get_json()["order"]
    assert order["state"] == "OPEN" and order["version"] == 1 and order["reference_id"] == "req-1"
    assert order["total_money"] == {"amount": 2687, "currency": "USD"}  # 2 x (8.99 + 1.50) + 1.99, 8.25 % tax, tip
    assert order["line_items"][0]["modifiers"][0]["catalog_object_id"] == "mod-001"
    again = create(client)
    assert again.status_code == 200 and again.get_json()["order"]["id"] == order["id"]
    other = body()
    other["order"]["line_items"][0]["quantity"] = "3"
    reused = create(client, other)
    assert reused.status_code == 400 and code(reused) == "IDEMPOTENCY_KEY_REUSED"
    assert client.get("/_admin/ledger", headers=AUTH).get_json()["count"] == 1


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        (lambda b: b["order"].update(reference_id="r" * 41), 400, "VALUE_TOO_LONG"),
        (lambda b: b["order"]["line_items"][0].update(quantity="1.5"), 400, "INVALID_VALUE"),
        (lambda b: b["order"]["line_items"][0]["base_price_money"].update(amount=8.99), 400, "EXPECTED_INTEGER"),
        (lambda b: b.pop("idempotency_key"), 400, "MISSING_REQUIRED_PARAMETER"),
        (lambda b: b["order"].update(location_id="loc-999"), 404, "NOT_FOUND"),
        (lambda b: b["order"]["line_items"][0].update(catalog_object_id="item-004"), 400, "INVALID_VALUE"),  # sold out
    ],
)
def test_create_refuses_what_square_would(client, change, status, error):
    sent = body()
    change(sent)
    answer = create(client, sent)
    assert (answer.status_code, code(answer)) == (status, error)


def test_a_location_not_accepting_orders_is_inactive_and_refuses_them(client):
    knobs(client, "loc-002", {"accepting_orders": False})
    location = client.get("/v2/locations/loc-002", headers=AUTH).get_json()["location"]
    assert location["status"] == "INACTIVE"
    answer = create(client, body(location="loc-002"))
    assert answer.status_code == 400 and answer.get_json()["errors"][0]["field"] == "order.location_id"


def test_a_down_location_answers_503(client):
    knobs(client, "loc-001", {"down": True})
    assert code(create(client)) == "SERVICE_UNAVAILABLE"
    assert search(client).status_code == 503


def test_search_pages_newest_first_and_requires_the_matching_sort(client):
    ids = [create(client, body(uid=f"req-{n}")).get_json()["order"]["id"] for n in range(3)]
    first = search(client, limit=2).get_json()
    assert [o["id"] for o in first["orders"]] == ids[::-1][:2] and first["cursor"]
    rest = search(client, limit=2, cursor=first["cursor"]).get_json()
    assert [o["id"] for o in rest["orders"]] == ids[:1] and "cursor" not in rest
    window = {"filter": {"date_time_filter": {"created_at": {"start_at": "2999-01-01T00:00:00.000Z"}}}}
    assert search(client, query={**window, "sort": {"sort_field": "CREATED_AT"}}).get_json()["orders"] == []
    wrong = search(client, query={**window, "sort": {"sort_field": "UPDATED_AT"}})
    assert wrong.status_code == 400
    assert search(client, location_ids=[f"l{n}" for n in range(11)]).status_code == 400


def test_lookup_knobs_apply_to_searches(client):
    knobs(client, "loc-001", {"lookup_down": True})
    assert search(client).status_code == 503
    assert create(client).status_code == 200


def test_cancel_needs_the_current_version_and_the_fulfillments_and_answers_canceled(client):
    order = create(client).get_json()["order"]
    stale = cancel(client, order, version=7)
    assert (stale.status_code, code(stale)) == (400, "VERSION_MISMATCH")
    bare = cancel(client, order, fulfillments=[])
    assert bare.status_code == 400 and bare.get_json()["errors"][0]["field"] == "order.fulfillments"
    done = cancel(client, order)
    assert done.status_code == 200 and done.get_json()["order"]["state"] == "CANCELED"
    assert done.get_json()["order"]["version"] == 2
    assert cancel(client, order).get_json()["order"]["version"] == 2  # a used key: nothing applied again
    again = cancel(client, dict(order, version=2), key="k2")
    assert (again.status_code, code(again)) == (400, "BAD_REQUEST")  # a CANCELED order cannot be updated
    assert create(client).get_json()["order"]["state"] == "CANCELED"  # the replay shows it canceled


def test_past_the_void_window_an_order_is_completed_and_cannot_be_canceled(client):
    knobs(client, "loc-001", {"void_window_ms": 0})
    order = create(client).get_json()["order"]
    assert order["state"] == "COMPLETED" and order["closed_at"]
    assert order["fulfillments"][0]["state"] == "COMPLETED"
    refused = cancel(client, order)
    assert refused.status_code == 400
    assert client.get("/_admin/ledger", headers=AUTH).get_json()["orders"][0]["status"] == "accepted"


def test_the_catalog_and_locations_are_squares_shapes(client):
    knobs(client, "loc-002", {"items": {"item-001": False}})
    objects = client.get("/v2/catalog/list", headers=AUTH).get_json()["objects"]
    kinds = {o["type"] for o in objects}
    assert kinds == {"ITEM", "MODIFIER_LIST", "DISCOUNT", "TAX"}
    burger = next(o for o in objects if o["id"] == "item-001-item")
    variation = burger["item_data"]["variations"][0]
    assert variation["id"] == "item-001" and variation["item_variation_data"]["price_money"]["amount"] == 899
    assert variation["item_variation_data"]["location_overrides"] == [{"location_id": "loc-002", "sold_out": True}]
    taxes = {o["present_at_location_ids"][0]: o["tax_data"]["percentage"] for o in objects if o["type"] == "TAX"}
    assert taxes == {"loc-001": "8.25", "loc-002": "6", "loc-003": "7"}
    listed = client.get("/v2/locations", headers=AUTH).get_json()["locations"]
    assert [(loc["id"], loc["status"]) for loc in listed] == [
        ("loc-001", "ACTIVE"),
        ("loc-002", "ACTIVE"),
        ("loc-003", "INACTIVE"),
    ]


def test_square_routes_need_the_token(client):
    assert client.get("/v2/locations").status_code == 401
