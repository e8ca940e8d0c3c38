"""POST validate and submit (both spellings), GET an order, GET the recovery list."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app import jsonio, signing
from app.times import format_time, parse_time
from tests.conftest import SHARED_ID
from tests.support.factories import sample_order
from tests.support.fakes import FakePos, GatedPos


@pytest.fixture
def pos(request):
    return GatedPos() if getattr(request, "param", None) == "gated" else FakePos()


@pytest.fixture(autouse=True)
def _finish_background(pos, services):
    if isinstance(pos, GatedPos):
        services.service.budget = 0.3  # the gate makes the overrun; a short budget only saves time
    yield
    if isinstance(pos, GatedPos):
        pos.gate.set()


@pytest.fixture
def auth(token):
    return {"Authorization": f"Bearer {token}"}


def with_extras(order):
    order["order_details"]["loyalty"] = {"member": "L-42", "points": 120}
    order["order_details"]["items"][0]["kitchen_tag"] = "grill"
    order["brand_id"] = "b-9"
    return order


@pytest.mark.parametrize("path", ["/posnext/order/validate", "/posnext/orders/validate"])
def test_validate_answers_validated_with_the_computed_totals(post, path):
    order = with_extras(sample_order(uid="ord-v", request_type="validate-order"))
    r = post(path, order)
    assert r.status_code == 200
    body = r.body
    assert body["status"] == "validated" and body["errors"] == []
    assert (body["request_uid"], body["location_id"], body["request_type"]) == ("ord-v", "loc-001", "validate-order")
    details = body["order_details"]
    for name in ("subtotal", "discount_total", "tax", "tip", "grand_total"):
        assert details[name] == order["order_details"][name]
    assert "pos_order_id" not in details
    assert details["loyalty"] == {"member": "L-42", "points": 120}
    assert details["items"][0]["kitchen_tag"] == "grill"
    assert "brand_id" not in body


def test_validate_rejects_with_every_problem(post):
    order = sample_order(request_type="validate-order", location_id="loc-003")
    order["order_details"]["items"][1]["unit_price"] = Decimal("2.50")
    r = post("/posnext/order/validate", order)
    assert r.status_code == 200 and r.body["status"] == "rejected"
    assert {e["code"] for e in r.body["errors"]} == {"location_closed", "price_mismatch", "totals_mismatch"}
    assert all(e.get("field") for e in r.body["errors"])


def test_validate_without_a_menu_is_errored(post, pos):
    pos.down = True
    r = post("/posnext/order/validate", sample_order(request_type="validate-order"))
    assert r.status_code == 200
    assert (r.body["status"], r.body["errors"][0]["code"]) == ("errored", "menu_unavailable")


@pytest.mark.parametrize("path", ["/posnext/order/submit", "/posnext/orders/submit"])
def test_submit_places_inline_and_hands_back_unknown_fields(post, path, client, auth):
    order = with_extras(sample_order(uid="ord-s"))
    r = post(path, order)
    assert r.status_code == 200
    body = r.body
    assert body["status"] == "placed"
    assert body["order_details"]["pos_order_id"] == "P-000001"
    assert body["completed_at"].endswith("Z") and body["received_at"].endswith("Z")
    assert body["order_details"]["loyalty"] == {"member": "L-42", "points": 120}
    assert body["order_details"]["items"][0]["kitchen_tag"] == "grill"
    assert "brand_id" not in body and "validated" not in body
    assert "Retry-After" not in r.headers
    polled = client.get("/posnext/orders/ord-s", headers=auth)
    assert polled.status_code == 200 and polled.json == r.json


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_an_overrun_is_202_with_location_then_polling_shows_it(post, pos, client, auth, tasks, services):
    r = post("/posnext/order/submit", sample_order(uid="ord-slow"))
    assert r.status_code == 202
    assert r.body["status"] == "pending"
    assert r.headers["Location"] == "/posnext/orders/ord-slow"
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["x-pch-digest"] == signing.sign(signing.key_from_shared_id(SHARED_ID), r.body)
    assert tasks.sent == [("place_order", "ord-slow")]
    pending = client.get("/posnext/orders/ord-slow", headers=auth)
    assert pending.status_code == 200 and pending.json["status"] == "pending"
    assert "Retry-After" in pending.headers and pending.headers["x-pch-digest"]
    pos.gate.set()
    services.service.advance("ord-slow")  # the worker's move
    done = client.get("/posnext/orders/ord-slow", headers=auth)
    assert done.json["status"] == "placed" and "Retry-After" not in done.headers


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_a_duplicate_while_pending_is_202_again(post, pos):
    order = sample_order(uid="ord-dup")
    assert post("/posnext/order/submit", order).status_code == 202
    again = post("/posnext/order/submit", order)
    assert again.status_code == 202 and again.headers["Location"] == "/posnext/orders/ord-dup"


def test_the_same_submit_twice_places_once(post, pos):
    order = sample_order(uid="ord-twice")
    first, second = post("/posnext/order/submit", order), post("/posnext/order/submit", order)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json == second.json
    assert pos.count("place") == 1


def test_a_rejected_submit_is_recorded_and_polled(post, client, auth, pos):
    r = post("/posnext/order/submit", sample_order(uid="ord-rj", location_id="loc-003"))
    assert (r.status_code, r.body["status"]) == (200, "rejected")
    polled = client.get("/posnext/orders/ord-rj", headers=auth)
    assert polled.json["status"] == "rejected" and polled.json["errors"] == r.json["errors"]
    assert pos.count("place") == 0


def test_an_order_id_with_odd_characters_is_refused(post, client, auth, redis_client):
    r = post("/posnext/order/submit", sample_order(uid="ord:é 1"))
    assert r.status_code == 400 and "x-pch-digest" not in r.headers
    assert redis_client.dbsize() == 0
    assert client.get("/posnext/orders/ord:%C3%A9%201", headers=auth).status_code == 400


def test_the_recovery_list(post, client, auth):
    for uid, location in (("r-1", "loc-001"), ("r-2", "loc-002"), ("r-3", "loc-001")):
        post(
            "/posnext/order/submit",
            sample_order(uid=uid, location_id=location, tax_rate="0.0600" if location == "loc-002" else "0.0825"),
        )
    post("/posnext/order/submit", sample_order(uid="r-4", location_id="loc-003", tax_rate="0.0700"))
    listed = client.get("/posnext/orders?location_id=loc-001", headers=auth)
    assert listed.status_code == 200
    assert [o["request_uid"] for o in listed.json["orders"]] == ["r-1", "r-3"]
    assert listed.json["next_since"] is None
    rejected = client.get("/posnext/orders?location_id=loc-003&status=rejected", headers=auth)
    assert [o["request_uid"] for o in rejected.json["orders"]] == ["r-4"]
    placed_only = client.get("/posnext/orders?location_id=loc-003&status=placed", headers=auth)
    assert placed_only.json["orders"] == []
    page = client.get("/posnext/orders?location_id=loc-001&limit=1", headers=auth)
    assert [o["request_uid"] for o in page.json["orders"]] == ["r-1"] and page.json["next_since"]
    future = format_time(time.time() + 3600)
    later = client.get(f"/posnext/orders?location_id=loc-001&since={future}", headers=auth)
    assert later.json["orders"] == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?location_id=",
        "?location_id=loc-001&status=lost",
        "?location_id=loc-001&since=yesterday",
        "?location_id=loc-001&limit=0",
    ],
)
def test_the_recovery_list_refuses_a_bad_query(client, auth, query):
    r = client.get(f"/posnext/orders{query}", headers=auth)
    assert r.status_code == 400 and r.json["status"] == "errored"


def test_the_recovery_list_needs_the_jwt(client):
    assert client.get("/posnext/orders?location_id=loc-001").status_code == 401


# -- issue 11: hardening --------------------------------------------------------------
def raw_post(client, path, data: bytes, token, digest=None):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if digest:
        headers["x-pch-digest"] = digest
    return client.post(path, data=data, headers=headers)


def test_no_signature_over_fields_a_client_chose(client, token, auth):
    """Issue 11, finding 1."""
    r = raw_post(client, "/posnext/order/validate", b'{"request_uid": "U", "location_id": "loc-001"}', token)
    assert r.status_code == 400 and r.json["request_uid"] == "U"
    assert "x-pch-digest" not in r.headers
    missing = client.get("/posnext/orders/U", headers=auth)
    assert missing.status_code == 404 and "x-pch-digest" not in missing.headers


def test_validate_signs_with_the_requests_own_time(post):
    """Issue 11, finding 1."""
    order = sample_order(request_type="validate-order")
    r = post("/posnext/order/validate", order)
    assert r.status_code == 200 and r.body["request_datetime"] == order["request_datetime"]
    seconds = int(parse_time(order["request_datetime"]).timestamp())
    assert signing.digest_message(r.body).endswith(f"|{seconds}")
    assert r.headers["x-pch-digest"] == signing.sign(signing.key_from_shared_id(SHARED_ID), r.body)


def test_an_error_after_the_digest_is_not_signed_either(post):
    """Issue 11, finding 1."""
    order = sample_order(uid="ord-409")
    assert post("/posnext/order/submit", order).status_code == 200
    order["order_details"]["customer"]["name"] = "Bea"
    conflict = post("/posnext/order/submit", order)
    assert conflict.status_code == 409 and "x-pch-digest" not in conflict.headers


@pytest.mark.parametrize("uid", ["ord:history", "ord:lease", "a|b", "x/y", "é", "x" * 129])
def test_an_id_outside_the_key_set_is_400_and_touches_nothing(post, client, auth, redis_client, uid):
    """Issue 11, finding 4."""
    assert post("/posnext/order/submit", sample_order(uid="ord")).status_code == 200
    before = redis_client.dbsize()
    r = post("/posnext/order/submit", sample_order(uid=uid))
    assert r.status_code == 400 and "x-pch-digest" not in r.headers
    assert any(e.get("field") == "request_uid" for e in r.body["errors"])
    assert redis_client.dbsize() == before
    polled = client.get(f"/posnext/orders/{uid}", headers=auth)
    assert polled.status_code in (400, 404) and polled.is_json


@pytest.mark.parametrize("field", ["request_uid", "location_id"])
def test_a_lone_surrogate_is_a_json_400(client, token, field):
    """Issue 11, finding 7."""
    body = jsonio.dumps(sample_order()).replace(
        '"loc-001"' if field == "location_id" else '"request_uid":"',
        '"x\\ud800"' if field == "location_id" else '"request_uid":"\\ud800',
    )
    r = raw_post(client, "/posnext/order/submit", body.encode(), token, digest="0" * 64)
    assert r.status_code == 400 and r.is_json and r.json["status"] == "errored"


def test_a_client_supplied_pos_order_id_is_never_taken(post, client, auth):
    """Issue 11, finding 9."""
    order = sample_order(uid="ord-inj", location_id="loc-003", tax_rate="0.0700")
    order["order_details"].update(pos_order_id="INJECTED", status="placed", completed_at="2026-01-01T00:00:00.000Z")
    order["completed_at"] = "2026-01-01T00:00:00.000Z"
    r = post("/posnext/order/submit", order)
    assert r.body["status"] == "rejected"
    polled = client.get("/posnext/orders/ord-inj", headers=auth).json
    for body in (r.body, polled):
        assert "pos_order_id" not in body["order_details"] and "status" not in body["order_details"]
        assert body.get("completed_at") != "2026-01-01T00:00:00.000Z"


def test_thousands_of_bad_items_cost_one_error(client, token):
    """Issue 11, finding 11."""
    order = sample_order()
    order["order_details"]["items"] = [{}] * 6500  # 3 errors each on main: 19,500
    r = raw_post(client, "/posnext/order/submit", jsonio.dumps(order).encode(), token, digest="0" * 64)
    assert r.status_code == 400 and len(r.json["errors"]) == 1 and len(r.data) < 2000


def test_a_recovery_page_is_bounded_in_bytes(post, client, auth, monkeypatch):
    """Issue 11, finding 10."""
    from app.routes import orders as routes

    for index in range(6):
        order = sample_order(uid=f"big-{index}")
        order["order_details"]["blob"] = "x" * 30000
        assert post("/posnext/order/submit", order).status_code == 200
    monkeypatch.setattr(routes, "PAGE_MAX_BYTES", 70000)
    seen, cursor = [], None
    for _ in range(10):
        query = "/posnext/orders?location_id=loc-001&limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=auth)
        assert page.status_code == 200 and len(page.data) < 70000 + 2000
        seen += [o["request_uid"] for o in page.json["orders"]]
        cursor = page.json["next"]
        if not cursor:
            break
    assert seen == [f"big-{index}" for index in range(6)]


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
def test_paging_visits_every_order_once_however_many_share_a_time(post, client, auth, redis_client, limit):
    """Issue 10, finding 12."""
    uids = [f"same-{index:02d}" for index in range(12)]
    for uid in uids:
        assert post("/posnext/order/submit", sample_order(uid=uid)).status_code == 200
    created = time.time() - 60  # all twelve in one millisecond, one score
    redis_client.zadd("orders:loc:loc-001", dict.fromkeys(uids, created))
    seen, since = [], format_time(created - 1)
    for _ in range(30):
        page = client.get(f"/posnext/orders?location_id=loc-001&limit={limit}&since={since}", headers=auth).json
        assert len(page["orders"]) <= limit
        seen += [o["request_uid"] for o in page["orders"]]
        if not page["next_since"]:
            break
        since = page["next_since"]
    assert sorted(seen) == uids and len(seen) == len(uids)


def test_the_recovery_list_skips_counts_and_logs_an_unreadable_record(post, client, auth, redis_client, caplog):
    for uid in ("ok-1", "bad-2", "ok-3"):
        assert post("/posnext/order/submit", sample_order(uid=uid)).status_code == 200
    redis_client.hset("order:bad-2", "doc", b'{"status": Infinity}')
    page = client.get("/posnext/orders?location_id=loc-001", headers=auth)
    assert page.status_code == 200
    # the store's get() now skips, counts and logs a corrupt record itself (None); the list skips it too
    assert [o["request_uid"] for o in page.json["orders"]] == ["ok-1", "ok-3"]
    assert page.json["skipped"] == 1


def test_a_status_filter_reads_only_the_orders_it_answers(post, client, auth, services, monkeypatch):
    """Issue 23, finding 7: `status=cancelled&limit=500` read up to 2,000 records for a 55-byte
    answer; a status filter now pages that status's own index."""
    for index in range(30):
        assert post("/posnext/order/submit", sample_order(uid=f"ord-{index:02d}")).status_code == 200
    reads = []
    get = services.store.get
    monkeypatch.setattr(services.store, "get", lambda uid: (reads.append(uid), get(uid))[1])
    get_many = services.store.get_many  # a page reads its orders at once (Redis, then the archive)
    monkeypatch.setattr(services.store, "get_many", lambda uids: (reads.extend(uids), get_many(uids))[1])
    listed = client.get("/posnext/orders?location_id=loc-001&status=cancelled&limit=500", headers=auth).json
    assert listed["orders"] == [] and reads == []
    placed, cursor = [], None
    while True:
        query = "&cursor=" + cursor if cursor else ""
        page = client.get(f"/posnext/orders?location_id=loc-001&status=placed&limit=7{query}", headers=auth).json
        placed += [o["request_uid"] for o in page["orders"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(placed) == [f"ord-{i:02d}" for i in range(30)] and len(reads) == 30
