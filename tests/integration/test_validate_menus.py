"""Issue 2 over real HTTP (gunicorn in front): validate computes totals and creates nothing,
rejections carry their codes, submits refused by validation are recorded, menus are served from
the cache; every error is JSON in the order envelope; Redis going away gives 503 with
Retry-After and a failing /readyz, and coming back brings the service back (last: it empties Redis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from app import jsonio
from tests.support.factories import encode, sample_order
from tests.support.live import SHARED_ID, digest_ok, start_live, wait_until

SUBMIT = "/posnext/order/submit"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    # No scheduled refresh during the module: a menu changed at the POS stays unseen until asked.
    stack = start_live(str(tmp_path_factory.mktemp("validate")), MENU_REFRESH_SECONDS=3600)
    yield stack
    stack.stop()


def body_of(response) -> dict:
    return jsonio.loads(response.content)


@pytest.mark.parametrize("path", ["/posnext/order/validate", "/posnext/orders/validate"])
def test_validate_answers_computed_totals_and_creates_nothing(fresh, path):
    order = sample_order(request_type="validate-order")
    del order["order_details"]["discount_total"]
    uid = order["request_uid"]
    response = fresh.post(path, order)
    assert response.status_code == 200, response.text
    assert digest_ok(response)
    body = body_of(response)
    assert body["status"] == "validated"
    assert body["errors"] == []
    details = body["order_details"]
    # 2 x (8.99 + 1.50) + 1.99 = 22.97; tax 22.97 x 0.0825 = 1.895025 -> 1.90; tip 2.00
    assert (details["subtotal"], details["discount_total"], details["tax"], details["tip"], details["grand_total"]) == (
        Decimal("22.97"),
        0,
        Decimal("1.90"),
        2,
        Decimal("26.87"),
    )
    assert "pos_order_id" not in details
    assert fresh.get_order(uid).status_code == 404
    assert fresh.redis.exists(f"order:{uid}") == 0
    assert fresh.ledger() == []
    assert fresh.pos_stats()["post_orders_total"] == 0


def test_validate_rejects_with_every_problem_code(fresh):
    order = sample_order(request_type="validate-order")
    lines = order["order_details"]["items"]
    lines[1]["unit_price"] = Decimal("2.49")  # the Soda is 1.99 on the menu
    lines.append({"id": "item-999", "name": "Ghost", "item_type": "Item", "quantity": 1, "unit_price": Decimal("1")})
    response = fresh.post("/posnext/order/validate", order)
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["status"] == "rejected"
    codes = {e["code"] for e in body["errors"]}
    assert {"price_mismatch", "item_unknown", "totals_mismatch"} <= codes
    fields = {e.get("field") for e in body["errors"]}
    assert {"order_details.items.1.unit_price", "order_details.items.2.id"} <= fields
    assert fresh.get_order(order["request_uid"]).status_code == 404


def test_a_submit_refused_by_validation_is_recorded_and_never_reaches_the_pos(fresh):
    order = sample_order(location_id="loc-003", tax_rate="0.0700")  # seeded as not accepting orders
    response = fresh.submit(order)
    assert response.status_code == 200, response.text
    assert body_of(response)["status"] == "rejected"
    assert [e["code"] for e in body_of(response)["errors"]] == ["location_closed"]
    polled = fresh.get_order(order["request_uid"])
    assert polled.status_code == 200
    assert body_of(polled)["status"] == "rejected"
    assert fresh.pos_stats()["post_orders_total"] == 0

    unknown = fresh.submit(sample_order(location_id="loc-404"))
    assert unknown.status_code == 200
    assert [e["code"] for e in body_of(unknown)["errors"]] == ["location_unknown"]


def available(menu: dict, item_id: str) -> bool:
    return next(item["available"] for item in menu["items"] if item["id"] == item_id)


def test_menus_are_served_from_the_cache_until_refreshed(fresh):
    first = fresh.get("/posnext/menus", location_id="loc-001")
    assert first.status_code == 200, first.text
    assert available(first.json(), "item-002") is True
    fresh.knobs("loc-001", items={"item-002": False})  # changed at the POS only

    cached = fresh.get("/posnext/menus", location_id="loc-001")
    assert cached.status_code == 200
    menu = body_of(cached)
    assert available(menu, "item-002") is True  # the POS was not asked again
    assert menu["stale"] is False
    assert menu["fetched_at"] == first.json()["fetched_at"]
    assert menu["age_seconds"] >= 0
    assert next(i["price"] for i in menu["items"] if i["id"] == "item-001") == Decimal("8.99")
    posted = fresh.post("/posnext/menus", {"location_id": "loc-001"})
    assert posted.status_code == 200
    assert body_of(posted)["fetched_at"] == menu["fetched_at"]

    refreshed = fresh.cli("menus", "refresh", "loc-001")
    assert refreshed.returncode == 0, refreshed.stderr
    assert available(fresh.get("/posnext/menus", location_id="loc-001").json(), "item-002") is False
    fresh.reset_pos()
    assert fresh.cli("menus", "refresh", "loc-001").returncode == 0


def test_menus_for_an_unknown_location_is_a_json_404(fresh):
    response = fresh.get("/posnext/menus", location_id="loc-404")
    assert response.status_code == 404
    body = body_of(response)
    assert body["status"] == "errored"
    assert [e["code"] for e in body["errors"]] == ["location_unknown"]


# -- errors over real HTTP ------------------------------------------------------------------
def signed(live, body: dict, **headers) -> tuple[bytes, dict]:
    data, sent = encode(body, SHARED_ID, live.token)
    sent.update(headers)
    return data, sent


def not_json(live):
    _, headers = signed(live, sample_order())
    return "post", SUBMIT, b"{not json", headers


def schema_broken(live):
    order = sample_order()
    del order["order_details"]
    return ("post", SUBMIT, *signed(live, order))


def wrong_request_type(live):
    return ("post", SUBMIT, *signed(live, sample_order(request_type="validate-order")))


def no_jwt(live):
    data, headers = signed(live, sample_order())
    del headers["Authorization"]
    return "post", SUBMIT, data, headers


def bad_digest(live):
    return ("post", SUBMIT, *signed(live, sample_order(), **{"x-pch-digest": "0" * 64}))


def unknown_order(live):
    return "get", "/posnext/orders/never-seen-0001", None, {"Authorization": f"Bearer {live.token}"}


def too_large(live):
    order = sample_order()
    order["order_details"]["padding"] = "x" * (300 * 1024)  # over MAX_CONTENT_LENGTH (256 KiB)
    return ("post", SUBMIT, *signed(live, order))


def not_json_content_type(live):
    data, headers = signed(live, sample_order(), **{"Content-Type": "text/plain"})
    return "post", SUBMIT, data, headers


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        (not_json, 400, "invalid_json"),
        (schema_broken, 400, "schema_invalid"),
        (wrong_request_type, 400, "request_type_mismatch"),
        (no_jwt, 401, "unauthorized"),
        (bad_digest, 401, "signature_invalid"),
        (unknown_order, 404, "order_unknown"),
        (too_large, 413, "payload_too_large"),
        (not_json_content_type, 415, "unsupported_media_type"),
    ],
)
def test_each_error_status_is_json_in_the_envelope(live, case, status, code):
    method, path, data, headers = case(live)
    response = live.http.request(method, live.base_url + path, data=data, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = jsonio.loads(response.content)
    assert body["status"] == "errored"
    assert [e["code"] for e in body["errors"]][:1] == [code]
    assert all(e["message"] for e in body["errors"])
    assert "Traceback" not in response.text


def test_a_reused_request_uid_with_another_payload_is_a_json_409(live):
    order = sample_order()
    assert live.submit(order).status_code == 200
    response = live.submit(sample_order(uid=order["request_uid"], quantity=5))
    assert response.status_code == 409
    body = jsonio.loads(response.content)
    assert (body["status"], body["request_uid"], body["location_id"]) == ("errored", order["request_uid"], "loc-001")
    assert [e["code"] for e in body["errors"]] == ["idempotency_conflict"]


def _ready_but_durability(answer: dict) -> bool:
    return answer["checks"]["redis"] == answer["checks"]["broker"] == "ok"


def test_redis_away_gives_503_with_retry_after_and_back_to_normal_when_it_returns(live):
    order = sample_order()
    live.redis_server.stop()
    try:
        response = live.submit(order)
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        body = jsonio.loads(response.content)
        assert body["status"] == "errored"
        assert body["request_uid"] == order["request_uid"]
        assert [e["code"] for e in body["errors"]] == ["service_unavailable"]
        ready = requests.get(f"{live.base_url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert int(ready.headers["Retry-After"]) > 0
        assert ready.json()["checks"]["redis"] != "ok"
        assert live.get_order(order["request_uid"]).status_code == 503
    finally:
        live.redis_server.start()  # the same port and directory, empty (no persistence here)

    # Redis and the broker back (this stack's Redis runs without AOF: /readyz's durability check
    # names that, and stays 503 for it: tests/unit/app/routes/test_health.py)
    wait_until(
        lambda: _ready_but_durability(requests.get(f"{live.base_url}/readyz", timeout=30).json()),
        message="/readyz: redis and broker back",
    )
    again = live.submit(order)  # nothing was half-written: the same request is simply new
    assert again.status_code == 200, again.text
    assert jsonio.loads(again.content)["status"] == "placed"

    live.knobs("*", down=True)  # and the workers are back too: a 202 finished by one
    later = sample_order()
    assert live.submit(later).status_code == 202
    wait_until(lambda: any(h["by"] == "worker" for h in live.history(later["request_uid"])), message="a worker attempt")
    live.knobs("*", down=False)
    assert live.wait_final(later["request_uid"])["status"] == "placed"
    assert len(live.ledger(order["request_uid"])) == 1
    assert len(live.ledger(later["request_uid"])) == 1
