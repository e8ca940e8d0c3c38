"""POST /posnext/orders/{orderId}/cancel on real processes (gunicorn, a Celery worker, beat, the
POS simulator over HTTP, a private redis-server), row by row of posnext-api.md's Cancel table.

The POS is judged by its own ledger (`/_admin/ledger`: every order made, voided or not, and
the calls per external_id with the time of the last POST). To hold an order pending while a
POST may be at the POS, the worker is frozen (SIGSTOP): the web's cancel then decides it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from app import jsonio, signing
from tests.support.engine_faults import epoch, first_post_seen, submit_in_background
from tests.support.factories import sample_order
from tests.support.live import SHARED_ID, CallbackReceiver, digest_ok, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KEY = signing.key_from_shared_id(SHARED_ID)
TRANSIT = 0.25  # a POST sent before the cancel may reach the POS this much later (loopback)


def cancel(live, uid: str, reason: str | None = None):
    body = {} if reason is None else {"json": {"reason": reason}}
    return live.http.post(
        f"{live.base_url}/posnext/orders/{uid}/cancel",
        timeout=30,
        headers={"Authorization": f"Bearer {live.token}"},
        **body,
    )


@contextmanager
def worker_frozen(live):
    """No worker moves anything meanwhile (SIGSTOP): the web's own moves decide."""
    live.freeze("worker1")
    try:
        yield
    finally:
        live.thaw("worker1")


def codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def live_at_pos(live, uid: str) -> list[str]:
    return [e["pos_order_id"] for e in live.ledger(uid) if e["status"] != "voided"]


def handed_off_with_an_order_at_the_pos(live, uid_body: dict) -> str:
    """Submitted while the POS creates the order and then fails (500): a 202, a POST reached it."""
    live.knobs("loc-001", ambiguous_error_rate=1.0)
    response = live.submit(uid_body)
    live.knobs("loc-001", ambiguous_error_rate=None)
    assert response.status_code == 202, response.text
    uid = uid_body["request_uid"]
    assert len(live_at_pos(live, uid)) == 1
    return uid


def test_a_pending_order_no_post_has_reached_is_cancelled_at_once_and_never_posted(fresh):
    # loc-002's menu is not cached and its POS is down: the web cannot validate, so it hands
    # the order off; no POS body is stored, no POST sent.
    fresh.knobs("loc-002", down=True)
    body = sample_order(location_id="loc-002", tax_rate="0.0600", ttl=20)
    uid = body["request_uid"]
    assert fresh.submit(body).status_code == 202
    assert fresh.record(uid).get("status") == "pending"
    response = cancel(fresh, uid, "guest changed their mind")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled" and digest_ok(response)
    assert "cancel_requested_at" not in response.json()
    fresh.knobs("loc-002", down=None)  # the POS back: the worker's retries must not place it
    fresh.warm_menu("loc-002")
    time.sleep(3)  # retries every 0.2-1 s and a 1 s sweep have had their chances
    assert fresh.pos_calls(uid)["posts"] == 0 and fresh.ledger(uid) == []
    assert fresh.get_order(uid).json()["status"] == "cancelled"
    assert any("guest changed their mind" in (e.get("note") or "") for e in fresh.history(uid))


def test_a_pending_order_made_at_the_pos_is_voided_by_key_and_cancelled(fresh):
    with worker_frozen(fresh):
        uid = handed_off_with_an_order_at_the_pos(fresh, sample_order())
        response = cancel(fresh, uid)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled" and digest_ok(response)
    [entry] = fresh.ledger(uid)
    assert entry["status"] == "voided" and fresh.pos_calls(uid)["voids"] >= 1
    time.sleep(2)  # the thawed worker's move finds a final: nothing more
    assert fresh.get_order(uid).json()["status"] == "cancelled" and live_at_pos(fresh, uid) == []
    assert fresh.pos_calls(uid)["posts"] == 1


def test_a_post_in_flight_that_the_pos_completes_after_the_void_creates_nothing(fresh):
    fresh.knobs("loc-001", latency_ms=2500)  # the web's POST sleeps at the POS past the budget
    body = sample_order()
    uid = body["request_uid"]
    with worker_frozen(fresh):
        thread, answers = submit_in_background(fresh, body)
        first_post_seen(fresh, uid)
        thread.join(10)
        assert answers[0].status_code == 202, answers[0].text
        assert fresh.pos_stats()["in_progress"] == 1  # the POST still sleeping at the POS
        response = cancel(fresh, uid)
        cancelled_at = time.time()
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        wait_until(lambda: fresh.pos_stats()["in_progress"] == 0, 10, 0.1, "the POST in flight ended")
    assert fresh.ledger(uid) == []  # it woke after the void closed the key: refused, nothing made
    assert fresh.pos_stats()["post_orders"].get("422") == 1
    time.sleep(2)
    calls = fresh.pos_calls(uid)
    assert calls["posts"] == 1 and epoch(calls["last_post_at"]) <= cancelled_at + TRANSIT
    assert fresh.get_order(uid).json()["status"] == "cancelled" and fresh.ledger(uid) == []


def test_a_cancel_while_the_worker_retries_a_post_in_flight_ends_cancelled_with_nothing_at_the_pos(fresh):
    # no freezing: the web's POST sleeps at the POS, the worker retries it (409 in progress) and
    # may hold the claim when the cancel comes: 200 or 202, and cancelled either way
    fresh.knobs("loc-001", latency_ms=2500)
    body = sample_order()
    uid = body["request_uid"]
    thread, answers = submit_in_background(fresh, body)
    first_post_seen(fresh, uid)
    thread.join(10)
    assert answers[0].status_code == 202, answers[0].text
    wait_until(lambda: fresh.pos_calls(uid)["posts"] >= 2, 10, 0.02, "the worker's POST")
    response = cancel(fresh, uid)
    answered_at = time.time()
    assert response.status_code in (200, 202), response.text
    assert fresh.wait_final(uid, 30)["status"] == "cancelled"
    wait_until(lambda: fresh.pos_stats()["in_progress"] == 0, 10, 0.1, "the POSTs in flight ended")
    time.sleep(2)
    assert fresh.ledger(uid) == [] and fresh.get_order(uid).json()["status"] == "cancelled"
    assert epoch(fresh.pos_calls(uid)["last_post_at"]) <= answered_at + TRANSIT


def test_an_order_the_pos_will_not_void_is_placed(fresh):
    fresh.knobs("loc-001", void_window_ms=0)
    with worker_frozen(fresh):
        uid = handed_off_with_an_order_at_the_pos(fresh, sample_order())
        response = cancel(fresh, uid, "too late")
        assert response.status_code == 200, response.text
    placed = response.json()
    assert placed["status"] == "placed" and digest_ok(response)
    assert [placed["order_details"]["pos_order_id"]] == live_at_pos(fresh, uid)
    assert any("not voidable" in (e.get("note") or "") for e in fresh.history(uid))
    again = cancel(fresh, uid)
    assert again.status_code == 409 and codes(again) == ["not_cancellable"]


def test_a_cancel_the_pos_cannot_answer_in_the_budget_is_202_then_decided_and_called_back(fresh):
    with CallbackReceiver() as receiver:
        with worker_frozen(fresh):
            uid = handed_off_with_an_order_at_the_pos(fresh, sample_order(callback_url=receiver.url))
            fresh.knobs("*", down=True)  # the void answers 503: nothing decided within the budget
            response = cancel(fresh, uid)
        assert response.status_code == 202, response.text
        pending = response.json()
        assert pending["status"] == "pending" and pending["cancel_requested_at"] and digest_ok(response)
        assert response.headers["Location"] == f"/posnext/orders/{uid}"
        assert fresh.get_order(uid).json()["cancel_requested_at"] == pending["cancel_requested_at"]
        fresh.knobs("*", down=None)
        final = fresh.wait_final(uid, 30)
        assert final["status"] == "cancelled" and live_at_pos(fresh, uid) == []
        [(headers, raw)] = wait_until(lambda: receiver.bodies(uid), 30, 0.2, "the cancelled order's callback")
        called = jsonio.loads(raw)
        assert called["status"] == "cancelled" and signing.verify(KEY, called, headers["x-pch-digest"])
        assert called == final
        assert cancel(fresh, uid).status_code == 200


def test_a_cancelled_order_again_is_200_the_same_record_and_listed(fresh):
    with worker_frozen(fresh):
        uid = handed_off_with_an_order_at_the_pos(fresh, sample_order())
        first = cancel(fresh, uid)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    history = fresh.history(uid)
    again = cancel(fresh, uid, "a second click")
    assert again.status_code == 200 and digest_ok(again)
    assert again.json() == first.json() and fresh.history(uid) == history
    listed = fresh.get("/posnext/orders", location_id="loc-001", status="cancelled")
    assert listed.status_code == 200
    assert uid in [o["request_uid"] for o in listed.json()["orders"]]
    assert all(o["status"] == "cancelled" for o in listed.json()["orders"])


def errored_order(live) -> str:
    live.knobs("loc-001", error_rate=1.0, error_status=503)  # every POST fails; lookups show none
    try:
        body = sample_order(ttl=2)
        assert live.submit(body).status_code == 202
        return live.wait_final(body["request_uid"], 30)["request_uid"]
    finally:
        live.knobs("loc-001", error_rate=None, error_status=None)


def rejected_order(live) -> str:
    body = sample_order()
    body["order_details"]["items"][0]["unit_price"] += 1  # not the menu's price: the rules refuse it
    response = live.submit(body)
    assert response.status_code == 200 and response.json()["status"] == "rejected", response.text
    return body["request_uid"]


def placed_order(live) -> str:
    body = sample_order()
    response = live.submit(body)
    assert response.status_code == 200 and response.json()["status"] == "placed", response.text
    return body["request_uid"]


@pytest.mark.parametrize("make", [placed_order, errored_order, rejected_order])
def test_another_final_is_409_not_cancellable_and_unchanged(fresh, make):
    fresh.warm_menu()
    uid = make(fresh)
    before, record, history = fresh.get_order(uid).json(), fresh.record(uid), fresh.history(uid)
    ledger = fresh.ledger(uid)
    response = cancel(fresh, uid, "please")
    assert response.status_code == 409, response.text
    assert codes(response) == ["not_cancellable"] and "x-pch-digest" not in response.headers
    assert fresh.get_order(uid).json() == before and fresh.record(uid) == record
    assert fresh.history(uid) == history and fresh.ledger(uid) == ledger


def test_an_unknown_order_is_404(fresh):
    response = cancel(fresh, "never-submitted-0001")
    assert response.status_code == 404 and codes(response) == ["order_unknown"]
    assert fresh.redis.exists("order:never-submitted-0001") == 0


def test_the_cli_cancels_and_records_who_asked(fresh):
    with worker_frozen(fresh):
        uid = handed_off_with_an_order_at_the_pos(fresh, sample_order())
        run = fresh.posbridge("orders", "cancel", uid, "--reason", "on-call: the store called")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{uid}: cancelled" in run.stdout
    assert fresh.get_order(uid).json()["status"] == "cancelled" and live_at_pos(fresh, uid) == []
    asked = [e for e in fresh.history(uid) if "on-call: the store called" in (e.get("note") or "")]
    assert asked and all(str(e.get("by", "")).startswith("cli/") for e in asked), fresh.history(uid)
    unknown = fresh.posbridge("orders", "cancel", "never-submitted-0002")
    assert unknown.returncode == 1 and "no order" in unknown.stderr
