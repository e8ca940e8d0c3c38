"""The simulator's POS API through Flask's test client: every answer of the pos-api.md table."""

import random
import threading
import time

import pytest

from possim.app import create_app
from tests.support.possim import AUTH, TOKEN, error_code, knobs, ledger, order_body, post


@pytest.fixture
def app():
    return create_app(TOKEN, rng=random.Random(7))


@pytest.fixture
def client(app):
    return app.test_client()


# auth and JSON errors


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}]
)
@pytest.mark.parametrize("path", ["/locations/loc-001", "/orders?external_id=x", "/_admin/ledger", "/nowhere"])
def test_every_call_needs_the_bearer_token(client, headers, path):
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.is_json and error_code(response) == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unauthorised_post_creates_nothing(client):
    response = client.post("/orders", json=order_body(), headers={"Idempotency-Key": "k"})
    assert response.status_code == 401
    assert ledger(client)["count"] == 0


def test_unknown_path_and_wrong_method_answer_json(client):
    missing = client.get("/nowhere", headers=AUTH)
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong = client.delete("/orders", headers=AUTH)
    assert wrong.status_code == 405 and error_code(wrong) == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_an_unexpected_failure_answers_json_500():
    app = create_app(TOKEN)

    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom", headers=AUTH)
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "message": "the simulator failed unexpectedly"}}


def test_empty_token_is_refused():
    with pytest.raises(ValueError):
        create_app("")


# locations and menus


def test_location(client):
    response = client.get("/locations/loc-001", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {
        "location_id": "loc-001",
        "name": "Main St",
        "accepting_orders": True,
        "timezone": "America/New_York",
        "tax_rate": "0.0825",
        "currency": "USD",
    }
    closed = client.get("/locations/loc-003", headers=AUTH).get_json()
    assert closed["accepting_orders"] is False and closed["tax_rate"] == "0.0700"


def test_unknown_location_is_404(client):
    for path in ("/locations/loc-999", "/locations/loc-999/menu"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404
        assert error_code(response) == "location_unknown"


def test_menu(client):
    response = client.get("/locations/loc-002/menu", headers=AUTH)
    assert response.status_code == 200
    menu = response.get_json()
    assert menu["location_id"] == "loc-002" and menu["updated_at"].endswith("Z")
    items = {item["id"]: item for item in menu["items"]}
    burger = items["item-001"]
    assert (burger["name"], burger["item_type"], burger["price"]) == ("Burger", "Item", 899)
    assert {"id": "grp-size", "name": "Size", "min": 0, "max": 1, "modifier_ids": ["mod-001", "mod-002"]} in burger[
        "modifier_groups"
    ]
    assert items["mod-001"] == {
        "id": "mod-001",
        "name": "Large",
        "item_type": "Modifier",
        "price": 150,
        "available": True,
    }
    assert items["item-004"]["available"] is False
    side = items["combo-001"]["modifier_groups"][0]
    assert items["combo-001"]["item_type"] == "Combo" and (side["min"], side["max"]) == (1, 1)
    assert items["disc-001"]["item_type"] == "Discount" and items["disc-001"]["price"] == 200
    assert items["promo-001"]["item_type"] == "Promotion"
    assert all(isinstance(item["price"], int) for item in menu["items"])


# POST /orders: the answers of the table


def test_new_order_is_201_and_can_be_looked_up(client):
    response = post(client, order_body())
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["pos_order_id"].startswith("P-")
    assert answer == {
        "pos_order_id": answer["pos_order_id"],
        "external_id": "req-1",
        "status": "accepted",
        "total": 1081,
        "created_at": answer["created_at"],
    }
    assert answer["created_at"].endswith("Z") and answer["created_at"] == ledger(client)["orders"][0]["created_at"]
    found = client.get("/orders?external_id=req-1", headers=AUTH).get_json()
    assert found == [answer]
    assert client.get("/orders?external_id=other", headers=AUTH).get_json() == []


def test_same_key_same_body_is_200_with_the_same_body(client):
    first = post(client, order_body())
    body = order_body()
    reordered = dict(reversed(list(body.items())))  # same JSON, other key order
    again = post(client, reordered)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert ledger(client)["count"] == 1


def test_same_key_other_body_is_422_reused(client):
    assert post(client, order_body()).status_code == 201
    response = post(client, order_body(grand_total=999))
    assert response.status_code == 422
    assert error_code(response) == "idempotency_key_reused"
    assert response.get_json()["error"]["message"]
    assert ledger(client)["count"] == 1


def test_missing_idempotency_key_is_400(client):
    response = client.post("/orders", json=order_body(), headers=AUTH)
    assert response.status_code == 400
    assert error_code(response) == "idempotency_key_missing"


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda b: b.pop("external_id"), "external_id"),
        (lambda b: b.update(items=[]), "items"),
        (lambda b: b["items"][0].update(quantity=0), "items[0].quantity"),
        (lambda b: b["items"][0]["children"][0].update(unit_price="2.00"), "items[0].children[0].unit_price"),
        (lambda b: b["totals"].pop("tax"), "totals.tax"),
        (lambda b: b.update(customer="Ann"), "customer"),
    ],
)
def test_malformed_body_is_400_naming_the_field(client, change, field):
    body = order_body()
    change(body)
    response = post(client, body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_body"
    assert response.get_json()["error"]["message"].startswith(field)


def test_body_that_is_not_json_is_400(client):
    response = client.post("/orders", data="{nope", headers={**AUTH, "Idempotency-Key": "k"})
    assert response.status_code == 400 and error_code(response) == "invalid_body"


@pytest.mark.parametrize(
    "body, code",
    [
        (order_body(location_id="loc-999"), "location_unknown"),
        (order_body(location_id="loc-003"), "location_closed"),
        (
            order_body(items=[{"id": "item-004", "item_type": "Item", "quantity": 1, "unit_price": 749}]),
            "item_unavailable",
        ),
        (
            order_body(items=[{"id": "item-777", "item_type": "Item", "quantity": 1, "unit_price": 100}]),
            "item_unavailable",
        ),
    ],
)
def test_business_refusals_are_422(client, body, code):
    response = post(client, body)
    assert response.status_code == 422
    assert error_code(response) == code
    assert response.get_json()["error"]["message"]
    assert ledger(client)["count"] == 0


def test_unavailable_modifier_in_children_is_refused(client):
    client.put("/_admin/locations/loc-001/items/mod-003", json={"available": False}, headers=AUTH)
    response = post(client, order_body())
    assert response.status_code == 422
    assert "mod-003" in response.get_json()["error"]["message"]


def test_a_refused_key_is_not_burnt(client):
    assert post(client, order_body(location_id="loc-003")).status_code == 422
    knobs(client, "loc-003", {"accepting_orders": True})
    assert post(client, order_body(location_id="loc-003")).status_code == 201


def test_in_progress_is_409_then_the_same_order(client, app):
    knobs(client, "*", {"latency_ms": 400})
    results = {}
    slow = threading.Thread(target=lambda: results.update(first=post(app.test_client(), order_body())))
    slow.start()
    deadline = time.monotonic() + 5
    while client.get("/_admin/stats", headers=AUTH).get_json()["in_progress"] == 0:
        assert time.monotonic() < deadline, "the first call never started"
        time.sleep(0.01)
    during = post(client, order_body())
    slow.join()
    assert during.status_code == 409
    assert during.get_json()["error"]["code"] == "in_progress"
    assert results["first"].status_code == 201
    after = post(client, order_body())
    assert after.status_code == 200 and after.get_json() == results["first"].get_json()
    assert ledger(client)["count"] == 1


def test_concurrent_calls_with_one_key_make_one_order(app):
    client = app.test_client()
    knobs(client, "*", {"latency_ms": 100})
    barrier = threading.Barrier(20)
    statuses = []

    def call():
        mine = app.test_client()
        barrier.wait()
        statuses.append(post(mine, order_body()).status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 200, 409}
    assert ledger(client)["count"] == 1


def test_ledger_records(client):
    post(client, order_body("req-a"), key="key-a")
    post(client, order_body("req-b", location_id="loc-002", grand_total=500), key="key-b")
    view = ledger(client)
    assert view["count"] == 2
    first, second = view["orders"]
    assert set(first) == {
        "pos_order_id",
        "external_id",
        "idempotency_key",
        "location_id",
        "total",
        "status",
        "received_at",
        "created_at",
        "not_after",
    }
    assert first["status"] == "accepted"
    assert first["not_after"] is None  # a body without not_after: accepted with no bound
    assert (second["external_id"], second["idempotency_key"], second["location_id"], second["total"]) == (
        "req-b",
        "key-b",
        "loc-002",
        500,
    )
    assert first["received_at"] <= first["created_at"]
    assert first["pos_order_id"] != second["pos_order_id"]


def test_orders_lookup_needs_external_id(client):
    response = client.get("/orders", headers=AUTH)
    assert response.status_code == 400 and error_code(response) == "external_id_missing"
