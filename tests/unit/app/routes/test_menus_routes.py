"""GET and POST /posnext/menus: the cached menu, stale with its age, 404 and 503 as JSON."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app import jsonio


@pytest.fixture
def auth(token):
    return {"Authorization": f"Bearer {token}"}


def get(client, auth, location_id="loc-001"):
    return client.get(f"/posnext/menus?location_id={location_id}", headers=auth)


def post(client, auth, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else jsonio.dumps(body).encode()
    return client.post("/posnext/menus", data=data, headers={**auth, "Content-Type": content_type})


def test_get_fetches_once_then_serves_from_the_cache(client, auth, pos):
    first = get(client, auth)
    assert first.status_code == 200 and first.mimetype == "application/json"
    body = jsonio.loads(first.data)
    assert body["location_id"] == "loc-001" and body["stale"] is False
    prices = {item["id"]: item["price"] for item in body["items"]}
    assert prices["item-001"] == Decimal("8.99") and prices["promo-001"] == Decimal("3.00")
    assert body["location"]["tax_rate"] == "0.0825"
    assert int(first.headers["Age"]) >= 0
    calls = list(pos.calls)
    second = get(client, auth)
    assert second.status_code == 200 and jsonio.loads(second.data)["items"] == body["items"]
    assert pos.calls == calls == [("menu", "loc-001")]


def test_post_takes_the_location_in_the_body(client, auth):
    r = post(client, auth, {"location_id": "loc-002"})
    assert r.status_code == 200 and r.json["location_id"] == "loc-002"
    assert r.json["location"]["tax_rate"] == "0.0600"


def test_pos_down_with_a_stale_cached_menu_serves_it_with_its_age(client, auth, pos, services):
    services.menus.clock = lambda: time.time() - 1000
    services.menus.get("loc-001")
    services.menus.clock = time.time
    pos.down = True
    r = get(client, auth)
    assert r.status_code == 200
    assert r.json["stale"] is True and r.json["age_seconds"] >= 1000
    assert int(r.headers["Age"]) >= 1000


def test_pos_down_and_nothing_cached_is_503_json(client, auth, pos):
    pos.down = True
    r = get(client, auth)
    assert r.status_code == 503 and r.mimetype == "application/json"
    assert r.json["status"] == "errored"
    assert r.json["errors"][0]["code"] == "menu_unavailable"
    assert r.json["location_id"] == "loc-001"
    assert int(r.headers["Retry-After"]) > 0


def test_an_unknown_location_is_404_location_unknown(client, auth):
    for r in (get(client, auth, "loc-999"), post(client, auth, {"location_id": "loc-999"})):
        assert r.status_code == 404
        assert r.json["status"] == "errored" and r.json["errors"][0]["code"] == "location_unknown"


@pytest.mark.parametrize("case", ["get without", "post without", "post empty", "post not an object"])
def test_location_id_is_required(client, auth, case):
    r = {
        "get without": lambda: client.get("/posnext/menus", headers=auth),
        "post without": lambda: post(client, auth, {}),
        "post empty": lambda: post(client, auth, {"location_id": ""}),
        "post not an object": lambda: post(client, auth, ["loc-001"]),
    }[case]()
    assert r.status_code == 400 and r.json["status"] == "errored"


def test_post_refuses_other_content_types_and_bad_json(client, auth):
    assert post(client, auth, b"location_id=loc-001", "application/x-www-form-urlencoded").status_code == 415
    assert post(client, auth, b"{nope").status_code == 400


def test_menus_need_the_jwt(client):
    assert client.get("/posnext/menus?location_id=loc-001").status_code == 401
    assert client.post("/posnext/menus", json={"location_id": "loc-001"}).status_code == 401


def test_other_methods_are_405_json(client, auth):
    r = client.delete("/posnext/menus", headers=auth)
    assert r.status_code == 405 and r.json["status"] == "errored"


@pytest.mark.parametrize(
    "body", [b'{"location_id": "\\ud800"}', b'{"location_id": "a:b"}', b'{"location_id": 1e999999}']
)
def test_a_bad_location_id_on_post_is_a_json_400(client, auth, body):
    """Issue 11, finding 7."""
    r = client.post("/posnext/menus", data=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.is_json and "x-pch-digest" not in r.headers


def test_fresh_unknown_locations_are_limited_per_client(client, auth, pos, token, redis_client):
    """Issue 23, finding 9: before: every fresh location id cost a POS call and a Redis key, without limit."""
    answers = [get(client, auth, f"nowhere-{i}").status_code for i in range(UNKNOWN_PER_CLIENT + 10)]
    assert answers == [404] * UNKNOWN_PER_CLIENT + [429] * 10
    assert pos.count("menu") == UNKNOWN_PER_CLIENT
    refused = get(client, auth, "nowhere-x")
    assert refused.json["errors"][0]["code"] == "too_many_requests" and int(refused.headers["Retry-After"]) > 0
    assert get(client, auth, "nowhere-0").status_code == 404  # remembered as unknown: answered, no POS call
    assert pos.count("menu") == UNKNOWN_PER_CLIENT
    other = {"Authorization": f"Bearer {_token_for('another-client')}"}
    assert get(client, other, "loc-001").status_code == 200  # another client's budget is its own


UNKNOWN_PER_CLIENT = 20  # app/menus.py's


def _token_for(subject: str) -> str:
    from tests.conftest import JWT_SECRET
    from tests.support.factories import token

    return token(JWT_SECRET, sub=subject)
