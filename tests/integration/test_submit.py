"""Submit over the real stack: inline 200, 202 then a worker, POS refusals, POS outages,
expired ttls, ambiguous POS failures, duplicate and concurrent submits (posnext-api.md, "Submit")."""

from __future__ import annotations

import time

import pytest

from app import jsonio
from app.times import format_time, parse_time
from tests.support.factories import sample_order
from tests.support.live import at_once, digest_ok, post_signed, start_live, wait_until

LOC2_TAX = "0.0600"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    # Menus are refreshed only on a miss here, so a knob set at the POS alone stays unseen by
    # validation for the whole module (the POS-refusal tests depend on it).
    stack = start_live(str(tmp_path_factory.mktemp("submit")), MENU_REFRESH_SECONDS=3600)
    stack.warm_menu("loc-001")
    stack.warm_menu("loc-002")
    yield stack
    stack.stop()


def body_of(response) -> dict:
    return jsonio.loads(response.content)


def ledger_ids(live, uid: str) -> list[str]:
    return [o["pos_order_id"] for o in live.ledger(uid)]


def test_fast_pos_answers_200_placed_and_the_order_is_pollable(fresh):
    order = sample_order()
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["status"] == "placed"
    assert body["completed_at"] and body["received_at"]
    pos_order_id = body["order_details"]["pos_order_id"]
    assert ledger_ids(fresh, uid) == [pos_order_id]
    assert digest_ok(response)
    assert not digest_ok(response, shared_id="SomeOtherSharedId")

    polled = fresh.get_order(uid)
    assert polled.status_code == 200, polled.text
    assert "Retry-After" not in polled.headers
    view = body_of(polled)
    assert view["status"] == "placed"
    assert view["order_details"]["pos_order_id"] == pos_order_id
    assert view["completed_at"] == body["completed_at"]
    assert view["order_details"]["grand_total"] == order["order_details"]["grand_total"]
    assert digest_ok(polled)


def test_slow_pos_answers_202_then_polling_shows_pending_then_placed(fresh):
    fresh.knobs("*", latency_ms=2500)  # above the 800 ms budget, below the 3 s read timeout
    order = sample_order()
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/posnext/orders/{uid}"
    assert int(response.headers["Retry-After"]) >= 1
    assert body_of(response)["status"] == "pending"
    assert "pos_order_id" not in body_of(response)["order_details"]
    assert digest_ok(response)

    polled = fresh.get(response.headers["Location"])
    assert polled.status_code == 200
    assert body_of(polled)["status"] == "pending"
    assert int(polled.headers["Retry-After"]) >= 1
    assert digest_ok(polled)

    final = fresh.wait_final(uid)
    assert final["status"] == "placed"
    assert final["completed_at"]
    assert ledger_ids(fresh, uid) == [final["order_details"]["pos_order_id"]]
    assert fresh.record(uid)["handed"] == "1"


@pytest.mark.parametrize(
    ("knobs", "code"),
    [
        ({"items": {"item-003": False}}, "item_unavailable"),
        ({"accepting_orders": False}, "location_closed"),
    ],
)
def test_pos_refusal_is_rejected_with_the_pos_code(fresh, knobs, code):
    # The cached menu still says the item is available and the location open: only the POS knows.
    fresh.knobs("loc-002", **knobs)
    order = sample_order(location_id="loc-002", tax_rate=LOC2_TAX)
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["status"] == "rejected"
    assert [e["code"] for e in body["errors"]] == [code]
    assert fresh.pos_stats()["post_orders"] == {"422": 1}  # the POS itself refused it
    assert fresh.ledger(uid) == []
    assert body_of(fresh.get_order(uid))["status"] == "rejected"


@pytest.mark.parametrize("outage", [{"down": True}, {"error_rate": 1}])
def test_pos_down_then_up_gives_202_then_placed_once(fresh, outage):
    fresh.knobs("*", **outage)
    order = sample_order()
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 202, response.text
    wait_until(lambda: any(h["by"] == "worker" for h in fresh.history(uid)), message="a worker attempt")
    assert fresh.ledger(uid) == []
    fresh.knobs("*", down=False, error_rate=0)
    final = fresh.wait_final(uid)
    assert final["status"] == "placed"
    assert ledger_ids(fresh, uid) == [final["order_details"]["pos_order_id"]]


def test_an_expired_ttl_is_rejected_and_never_reaches_the_pos(fresh):
    order = sample_order(request_datetime=format_time(time.time() - 120), ttl=60)
    response = fresh.submit(order)
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["status"] == "rejected"
    assert "request_expired" in [e["code"] for e in body["errors"]]
    assert fresh.ledger(order["request_uid"]) == []
    assert fresh.pos_stats()["post_orders_total"] == 0


def test_a_ttl_that_runs_out_while_the_pos_is_down_is_errored_and_never_placed_late(fresh):
    fresh.knobs("*", down=True)
    order = sample_order(ttl=2)
    uid = order["request_uid"]
    assert fresh.submit(order).status_code == 202
    record = fresh.record(uid)
    deadline = float(record["deadline"]) / 1000  # the record keeps Unix ms
    assert deadline <= parse_time(order["request_datetime"]).timestamp() + 2
    # Past the deadline and past the time a POST sent before it could still land (1 + 3 s):
    wait_until(lambda: time.time() > deadline + 5, timeout=30, message="the deadline long past")
    assert fresh.record(uid)["status"] == "pending"  # the POS cannot be asked: never errored on a guess

    fresh.knobs("*", down=False)
    final = fresh.wait_final(uid)
    assert final["status"] == "errored"
    assert [e["code"] for e in final["errors"]] == ["deadline_exceeded"]
    again = fresh.submit(order)  # PAR retrying the same request changes nothing
    assert again.status_code == 200
    assert body_of(again)["status"] == "errored"
    time.sleep(2)  # a couple of sweeps (SWEEP_SECONDS=1) with the POS up
    assert fresh.ledger(uid) == []
    assert fresh.pos_stats()["orders_created"] == 0
    assert body_of(fresh.get_order(uid))["status"] == "errored"


def test_an_ambiguous_failure_is_resolved_by_the_worker_under_the_same_key_and_placed_once(fresh):
    # The POS creates the order, then answers 500 after the budget: the worker's POST under the
    # same Idempotency-Key gets that very order (200), never a second one.
    fresh.knobs("*", latency_ms=1500, ambiguous_error_rate=1)
    order = sample_order()
    uid = order["request_uid"]
    assert fresh.submit(order).status_code == 202
    final = fresh.wait_final(uid)
    fresh.knobs("*", ambiguous_error_rate=0)
    assert final["status"] == "placed"
    assert ledger_ids(fresh, uid) == [final["order_details"]["pos_order_id"]]
    stats = fresh.pos_stats()
    assert stats["orders_created"] == 1 and stats["post_orders"].get("201", 0) == 0
    assert stats["post_orders"]["500"] == 1 and stats["post_orders"]["200"] == 1
    assert [h["by"] for h in fresh.history(uid) if h["status"] == "placed"] == ["worker"]


def test_an_ambiguous_failure_within_the_budget_is_202_and_the_worker_gets_the_same_order(fresh):
    # posnext-api.md Submit 3: a transient POS failure is a 202; the inline path makes one call.
    fresh.knobs("*", ambiguous_error_rate=1)
    order = sample_order()
    uid = order["request_uid"]
    response = fresh.submit(order)
    assert response.status_code == 202, response.text
    fresh.knobs("*", ambiguous_error_rate=0)
    final = fresh.wait_final(uid)
    assert final["status"] == "placed"
    assert ledger_ids(fresh, uid) == [final["order_details"]["pos_order_id"]]


def test_twenty_identical_concurrent_submits_make_one_pos_order(fresh):
    order = sample_order()
    uid = order["request_uid"]
    answers = at_once([lambda: post_signed(fresh.base_url, "/posnext/order/submit", order, fresh.token)] * 20)
    assert all(not isinstance(a, Exception) for a in answers), answers
    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers if a.status_code != 200]
    ids = {body_of(a)["order_details"]["pos_order_id"] for a in answers}
    assert len(ids) == 1
    assert ledger_ids(fresh, uid) == list(ids)
    assert fresh.pos_stats()["orders_created"] == 1

    changed = sample_order(uid=uid, quantity=3)
    conflict = fresh.submit(changed)
    assert conflict.status_code == 409
    error = body_of(conflict)
    assert error["status"] == "errored"
    assert error["request_uid"] == uid
    assert [e["code"] for e in error["errors"]] == ["idempotency_conflict"]
    kept = body_of(fresh.get_order(uid))
    assert kept["order_details"]["pos_order_id"] in ids
    assert kept["order_details"]["items"][0]["quantity"] == 2
    assert ledger_ids(fresh, uid) == list(ids)


def test_twenty_identical_concurrent_submits_to_a_slow_pos_make_one_pos_order(fresh):
    fresh.knobs("*", latency_ms=1500)
    order = sample_order()
    uid = order["request_uid"]
    answers = at_once([lambda: post_signed(fresh.base_url, "/posnext/order/submit", order, fresh.token)] * 20)
    assert all(not isinstance(a, Exception) for a in answers), answers
    for answer in answers:  # 202 pending while the POS works; a late duplicate may see it placed
        assert (answer.status_code, body_of(answer)["status"]) in {(202, "pending"), (200, "placed")}, answer.text
    assert any(a.status_code == 202 for a in answers)
    final = fresh.wait_final(uid)
    assert final["status"] == "placed"
    assert ledger_ids(fresh, uid) == [final["order_details"]["pos_order_id"]]
    assert {body_of(a)["order_details"]["pos_order_id"] for a in answers if a.status_code == 200} <= {
        final["order_details"]["pos_order_id"]
    }
    assert fresh.pos_stats()["orders_created"] == 1  # the worker's calls under the key: 409, then 200


# Concurrency alone never causes a 202 (seed 000): a POS well within the budget, 100 at once.
def test_a_hundred_simultaneous_submits_all_answer_200(fresh):
    fresh.knobs("*", latency_ms=50)
    fresh.warm_menu("loc-001")
    orders = [sample_order() for _ in range(100)]
    answers = at_once(
        [
            (lambda order=order: post_signed(fresh.base_url, "/posnext/order/submit", order, fresh.token))
            for order in orders
        ]
    )
    failed = [
        a if isinstance(a, Exception) else (a.status_code, a.text[:200])
        for a in answers
        if isinstance(a, Exception) or a.status_code != 200
    ]
    assert failed == []
    bodies = [jsonio.loads(a.content) for a in answers]
    assert {b["status"] for b in bodies} == {"placed"}
    assert [b["request_uid"] for b in bodies] == [o["request_uid"] for o in orders]
    ledger = fresh.ledger()
    assert sorted(o["external_id"] for o in ledger) == sorted(o["request_uid"] for o in orders)
    by_uid = {o["external_id"]: o["pos_order_id"] for o in ledger}
    assert all(b["order_details"]["pos_order_id"] == by_uid[b["request_uid"]] for b in bodies)
