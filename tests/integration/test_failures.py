"""A POS failing or down for good: orders end errored past their deadline and are never placed
late, menus are served stale with their age, and with nothing cached the answer is a JSON 503."""

from __future__ import annotations

import time

import pytest

from app import jsonio
from app.times import parse_time
from tests.support.factories import sample_order
from tests.support.live import start_live, wait_until

MAX_ASYNC = 3
REFRESH = 1


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = start_live(
        str(tmp_path_factory.mktemp("failures")), ORDER_MAX_ASYNC_SECONDS=MAX_ASYNC, MENU_REFRESH_SECONDS=REFRESH
    )
    stack.warm_menu("loc-001")
    yield stack
    stack.stop()


def test_a_pos_failing_every_order_errors_it_at_its_deadline_and_places_nothing(fresh):
    fresh.knobs("*", error_rate=1)  # every POST fails; lookups answer "no such order"
    order = sample_order()
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 202, response.text
    final = fresh.wait_final(uid)
    assert final["status"] == "errored"
    assert [e["code"] for e in final["errors"]] == ["deadline_exceeded"]
    waited = parse_time(final["completed_at"]) - parse_time(final["received_at"])
    assert waited.total_seconds() >= MAX_ASYNC  # not given up before its deadline
    assert fresh.ledger(uid) == []
    assert fresh.pos_stats()["orders_created"] == 0
    assert any(h["by"] == "worker" for h in fresh.history(uid))


def test_a_pos_down_for_good_is_asked_ever_less_often_and_the_order_errored_once_it_answers(fresh):
    # Its POSTs failed with 503 (the order may exist at the POS): past the deadline it is never
    # errored on a guess, only looked up, with a backoff that grows; never placed late.
    fresh.knobs("*", down=True)
    order = sample_order()
    uid = order["request_uid"]
    assert fresh.submit(order).status_code == 202
    deadline = float(fresh.record(uid)["deadline"]) / 1000  # the record keeps Unix ms
    window = 6
    wait_until(lambda: time.time() > deadline + window, timeout=30, message="the deadline long past")
    assert fresh.record(uid)["status"] == "pending"
    retries = [
        h
        for h in fresh.history(uid)
        if h["by"] == "worker"
        and h.get("note", "").startswith("lookup failed")
        and deadline < h["at"] <= deadline + window
    ]
    assert 0 < len(retries) < 25  # RETRY_BASE_SECONDS=0.2: a backoff stuck at its start would be ~40

    fresh.knobs("*", down=False)
    final = fresh.wait_final(uid)
    assert final["status"] == "errored"
    assert [e["code"] for e in final["errors"]] == ["deadline_exceeded"]
    assert fresh.ledger(uid) == []
    assert fresh.pos_stats()["orders_created"] == 0


def test_pos_down_serves_the_cached_menu_stale_with_its_age(fresh):
    fresh.warm_menu("loc-001")
    fresh.knobs("*", down=True)
    stale = wait_until(
        lambda: (m := fresh.warm_menu("loc-001"))["stale"] and m, timeout=30, message="the menu going stale"
    )
    assert stale["age_seconds"] > 2 * REFRESH
    assert stale["location_id"] == "loc-001"
    assert {item["id"] for item in stale["items"]} >= {"item-001", "item-003"}
    response = fresh.get("/posnext/menus", location_id="loc-001")
    assert response.status_code == 200
    assert int(response.headers["Age"]) >= 2 * REFRESH

    # Orders are still checked against the stale menu.
    checked = fresh.post("/posnext/order/validate", sample_order(request_type="validate-order"))
    assert checked.status_code == 200, checked.text
    assert jsonio.loads(checked.content)["status"] == "validated"

    fresh.knobs("*", down=False)
    wait_until(lambda: not fresh.warm_menu("loc-001")["stale"], message="the menu refreshed")


def test_pos_down_with_no_menu_cached_is_a_json_503_and_a_pending_submit_errored_at_its_deadline(fresh):
    fresh.knobs("*", down=True)
    response = fresh.get("/posnext/menus", location_id="loc-003")  # never asked for before
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) > 0
    body = jsonio.loads(response.content)
    assert body["status"] == "errored"
    assert body["location_id"] == "loc-003"
    assert [e["code"] for e in body["errors"]] == ["menu_unavailable"]

    # No menu within the budget: 202, and a worker validates it once a menu can be had; none
    # by the deadline: errored / menu_unavailable (docs/ENGINE.md), never sent to the POS.
    order = sample_order(location_id="loc-003", tax_rate="0.0700", ttl=3)
    submitted = fresh.submit(order)
    assert submitted.status_code == 202, submitted.text
    final = fresh.wait_final(order["request_uid"], timeout=30)
    assert final["status"] == "errored"
    assert [e["code"] for e in final["errors"]] == ["menu_unavailable"]
    assert fresh.pos_stats()["post_orders_total"] == 0
