"""The knobs and admin API through Flask's test client: failures, latency, state, stats, reset."""

import random
import time

import pytest

from possim.app import create_app
from possim.knobs import DEFAULTS

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ITEMS = [{"id": "item-003", "item_type": "Item", "quantity": 2, "unit_price": 199}]


def order_body(external_id="req-1", location_id="loc-001"):
    return {
        "external_id": external_id,
        "location_id": location_id,
        "items": ITEMS,
        "totals": {"subtotal": 398, "discount_total": 0, "tax": 33, "tip": 0, "grand_total": 431},
        "fulfillment": None,
        "customer": None,
        "scheduled_for": None,
    }


@pytest.fixture
def client():
    return create_app(TOKEN, rng=random.Random(3)).test_client()


def post(client, body=None, key="key-1"):
    return client.post("/orders", json=body or order_body(), headers={**AUTH, "Idempotency-Key": key})


def put_knobs(client, location_id, patch):
    return client.put(f"/_admin/knobs/{location_id}", json=patch, headers=AUTH)


def get(client, path):
    return client.get(path, headers=AUTH).get_json()


def test_error_rate_answers_error_status_without_creating_and_the_key_stays_usable(client):
    put_knobs(client, "loc-001", {"error_rate": 1})
    response = post(client)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "injected_error"
    assert get(client, "/_admin/ledger")["count"] == 0
    put_knobs(client, "loc-001", {"error_rate": 0})
    assert post(client).status_code == 201


def test_error_status_429_carries_retry_after(client):
    put_knobs(client, "*", {"error_rate": 1.0, "error_status": 429})
    response = post(client)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_error_rate_is_a_share(client):
    put_knobs(client, "*", {"error_rate": 0.5})
    statuses = [post(client, order_body(f"r{n}"), key=f"k{n}").status_code for n in range(200)]
    assert 60 < statuses.count(503) < 140
    assert statuses.count(201) == 200 - statuses.count(503)
    assert get(client, "/_admin/ledger")["count"] == statuses.count(201)


def test_ambiguous_error_creates_the_order_then_answers_500(client):
    put_knobs(client, "loc-001", {"ambiguous_error_rate": 1})
    response = post(client)
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "injected_ambiguous_error"
    found = get(client, "/orders?external_id=req-1")
    assert len(found) == 1
    put_knobs(client, "loc-001", {"ambiguous_error_rate": 0})
    retry = post(client)
    assert retry.status_code == 200
    assert retry.get_json()["pos_order_id"] == found[0]["pos_order_id"]
    assert get(client, "/_admin/ledger")["count"] == 1


def test_down_answers_503_on_every_endpoint_of_that_location_only(client):
    put_knobs(client, "loc-001", {"down": True})
    for path in ("/locations/loc-001", "/locations/loc-001/menu"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 503 and response.get_json()["error"]["code"] == "pos_down"
    assert post(client).status_code == 503
    assert client.get("/locations/loc-002", headers=AUTH).status_code == 200
    assert post(client, order_body("req-2", "loc-002"), key="key-2").status_code == 201
    assert [o["location_id"] for o in get(client, "/_admin/ledger")["orders"]] == ["loc-002"]


def test_down_on_star_applies_to_locations_without_their_own_entry(client):
    put_knobs(client, "*", {"down": True})
    put_knobs(client, "loc-002", {"down": False})
    assert client.get("/locations/loc-001", headers=AUTH).status_code == 503
    assert client.get("/locations/loc-999", headers=AUTH).status_code == 503
    assert client.get("/orders?external_id=x", headers=AUTH).status_code == 503
    assert client.get("/locations/loc-002", headers=AUTH).status_code == 200


def test_orders_lookup_is_down_with_the_order_location(client):
    post(client)
    put_knobs(client, "loc-001", {"down": True})
    assert client.get("/orders?external_id=req-1", headers=AUTH).status_code == 503
    assert client.get("/orders?external_id=unknown", headers=AUTH).status_code == 200


def test_hang_sleeps_then_answers_503_without_creating(client):
    put_knobs(client, "loc-001", {"hang_seconds": 0.3})
    started = time.monotonic()
    response = post(client)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "pos_timeout"
    assert get(client, "/_admin/ledger")["count"] == 0
    put_knobs(client, "loc-001", {"hang_seconds": None})
    assert post(client).status_code == 201


def test_latency_delays_post_orders_only_where_set(client):
    put_knobs(client, "loc-002", {"latency_ms": 250, "latency_jitter_ms": 50})
    started = time.monotonic()
    assert post(client, order_body("a", "loc-002"), key="a").status_code == 201
    slow = time.monotonic() - started
    started = time.monotonic()
    assert post(client, order_body("b", "loc-001"), key="b").status_code == 201
    fast = time.monotonic() - started
    assert 0.25 <= slow < 2
    assert fast < 0.2


def test_accepting_orders_knob_overrides_the_seed(client):
    put_knobs(client, "loc-003", {"accepting_orders": True})
    assert get(client, "/locations/loc-003")["accepting_orders"] is True
    assert post(client, order_body("r3", "loc-003"), key="k3").status_code == 201
    put_knobs(client, "loc-001", {"accepting_orders": False})
    assert get(client, "/locations/loc-001")["accepting_orders"] is False
    response = post(client)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "location_closed"


def test_item_availability(client):
    before = get(client, "/locations/loc-001/menu")
    response = client.put("/_admin/locations/loc-001/items/item-003", json={"available": False}, headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"location_id": "loc-001", "item_id": "item-003", "available": False}
    menu = get(client, "/locations/loc-001/menu")
    assert next(i for i in menu["items"] if i["id"] == "item-003")["available"] is False
    assert menu["updated_at"] != before["updated_at"]
    refused = post(client)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "item_unavailable"
    assert "item-003" in refused.get_json()["error"]["message"]
    other = get(client, "/locations/loc-002/menu")
    assert next(i for i in other["items"] if i["id"] == "item-003")["available"] is True
    client.put("/_admin/locations/loc-001/items/item-003", json={"available": True}, headers=AUTH)
    assert post(client).status_code == 201


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/_admin/locations/loc-009/items/item-003", {"available": True}, 404),
        ("/_admin/locations/loc-001/items/item-999", {"available": True}, 404),
        ("/_admin/locations/loc-001/items/item-003", {"available": "no"}, 400),
        ("/_admin/locations/loc-001/items/item-003", ["x"], 400),
    ],
)
def test_item_availability_errors(client, path, body, status):
    response = client.put(path, json=body, headers=AUTH)
    assert response.status_code == status and "error" in response.get_json()


@pytest.mark.parametrize(
    "patch",
    [
        {"latency": 5},
        {"error_rate": "0.5"},
        {"error_rate": 1.5},
        {"down": "yes"},
        {"latency_ms": -1},
        {"latency_ms": True},
        {"error_status": 200},
        {"error_status": 503.0},
        {"hang_seconds": float("inf")},
        {"accepting_orders": 1},
        {"items": {"item-999": True}},
        {"items": {"item-001": "yes"}},
        ["down"],
        {"honour_not_after": "false"},
        {"honour_not_after": 0},
        {"void_window_ms": -1},
        {"void_window_ms": "300000"},
        {"void_window_ms": False},
    ],
)
def test_bad_knobs_are_400_and_change_nothing(client, patch):
    before = get(client, "/_admin/knobs")
    response = put_knobs(client, "loc-001", patch)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_knobs"
    assert get(client, "/_admin/knobs") == before


def test_knobs_for_unknown_location_are_404(client):
    response = put_knobs(client, "loc-404", {"down": True})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "location_unknown"


def test_knobs_merge_field_by_field(client):
    put_knobs(client, "*", {"latency_ms": 50, "error_rate": 0.1})
    put_knobs(client, "loc-002", {"latency_ms": 10})
    answer = put_knobs(client, "loc-002", {"down": True}).get_json()
    assert answer["knobs"] == {"latency_ms": 10, "down": True}
    assert answer["effective"]["error_rate"] == 0.1
    view = get(client, "/_admin/knobs")
    assert view["defaults"] == DEFAULTS
    assert view["knobs"] == {"*": {"latency_ms": 50, "error_rate": 0.1}, "loc-002": {"latency_ms": 10, "down": True}}
    assert view["effective"]["loc-001"]["latency_ms"] == 50
    assert view["effective"]["loc-002"]["latency_ms"] == 10
    assert view["effective"]["loc-003"]["down"] is False
    removed = put_knobs(client, "loc-002", {"latency_ms": None}).get_json()
    assert removed["knobs"] == {"down": True} and removed["effective"]["latency_ms"] == 50


def test_stats_count_post_orders_answers_by_status(client):
    post(client)
    post(client)
    post(client, order_body("r2", "loc-003"), key="k2")
    client.post("/orders", json=order_body(), headers=AUTH)
    client.get("/locations/loc-001", headers=AUTH)
    stats = get(client, "/_admin/stats")
    assert stats["post_orders"] == {"200": 1, "201": 1, "400": 1, "422": 1}
    assert stats["post_orders_total"] == 4
    assert stats["orders_created"] == 1 and stats["in_progress"] == 0


def test_reset_returns_to_the_knobs_given_at_start():
    client = create_app(TOKEN, knobs={"loc-002": {"down": True}}).test_client()
    first = post(client).get_json()
    put_knobs(client, "loc-001", {"error_rate": 1})
    put_knobs(client, "loc-002", {"down": False})
    client.put("/_admin/locations/loc-001/items/item-003", json={"available": False}, headers=AUTH)
    assert client.post("/_admin/reset", headers=AUTH).get_json() == {"reset": True}
    assert get(client, "/_admin/ledger") == {"orders": [], "count": 0, "calls": {}}
    assert get(client, "/_admin/stats")["post_orders"] == {}
    assert get(client, "/_admin/knobs")["knobs"] == {"loc-002": {"down": True}}
    assert client.get("/locations/loc-002", headers=AUTH).status_code == 503
    again = post(client)
    assert again.status_code == 201  # the same key makes a new order after a reset
    assert again.get_json()["pos_order_id"] != first["pos_order_id"]


def test_knobs_at_start_are_checked():
    with pytest.raises(ValueError):
        create_app(TOKEN, knobs={"*": {"eror_rate": 1}})
    with pytest.raises(LookupError):
        create_app(TOKEN, knobs={"loc-404": {"down": True}})
