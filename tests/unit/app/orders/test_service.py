"""The orders service on fakeredis with a fake POS: validate, and submit's inline path."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from app import jsonio
from app.orders.lifecycle import Move
from app.orders.service import Conflict, NotFound
from app.pos.base import InProgress, Refused, Transient
from app.times import format_time
from schemas.orders import OrderRequestSchema
from tests.support.factories import sample_order
from tests.support.fakes import FakePos, GatedPos
from tests.support.helpers import keys

SCHEMA = OrderRequestSchema()


@pytest.fixture
def pos(request):
    return GatedPos() if getattr(request, "param", None) == "gated" else FakePos()


@pytest.fixture
def service(services):
    if isinstance(services.pos, GatedPos):
        services.service.budget = 0.3  # the gate makes the overrun; a short budget only saves time
    yield services.service
    gate = getattr(services.pos, "gate", None)
    if gate is not None:
        gate.set()


def submit(service, uid="ord-1", **overrides):
    request = SCHEMA.load(sample_order(uid=uid, **overrides))
    return service.submit(request, time.monotonic())


def moves(pos):
    return [kind for kind, _ in pos.calls if kind in ("place", "lookup")]


def test_placed_inline_is_200(service, pos, tasks, services):
    status, body = submit(service)
    assert status == 200
    assert body["status"] == "placed"
    assert body["order_details"]["pos_order_id"] == "P-000001"
    assert body["completed_at"] and body["errors"] == []
    assert moves(pos) == ["place"] and tasks.sent == []
    order = services.store.get("ord-1")
    assert order.path == "inline" and order.validated
    assert services.store.next_move("ord-1") is None  # final: nothing left in the schedule


def test_a_pos_refusal_is_rejected_with_the_pos_code(service, pos):
    pos.outcomes.append(Refused("location_closed", "closed for a private event"))
    status, body = submit(service)
    assert (status, body["status"]) == (200, "rejected")
    assert body["errors"] == [{"code": "location_closed", "message": "closed for a private event"}]


@pytest.mark.parametrize("outcome", [Transient("HTTP 503"), InProgress(), Transient("timeout")])
def test_a_transient_answer_hands_off_at_once_with_the_move_due_now(service, pos, tasks, services, outcome):
    pos.outcomes.append(outcome)
    before = services.store.now()
    status, body = submit(service)
    assert (status, body["status"]) == (202, "pending")
    assert moves(pos) == ["place"]  # one POS call inline, no retry loop
    assert tasks.sent == [("place_order", "ord-1")]
    order = services.store.get("ord-1")
    assert order.handed_off and order.validated
    assert services.store.next_move("ord-1") <= before + 1


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_an_overrun_answers_202_within_the_budget_and_the_worker_finishes(service, pos, tasks, services):
    service.budget = 1.0  # room for the call on a loaded machine; the gate, shut, makes the overrun
    status, body = submit(service)  # an answer while the gate is shut: 202 without waiting for the POS
    assert (status, body["status"]) == (202, "pending")
    assert pos.timeouts and all(t <= 1.0 for t in pos.timeouts)  # each call got no more than was left
    assert "pos_order_id" not in body["order_details"]
    assert tasks.sent == [("place_order", "ord-1")]
    pos.gate.set()
    assert service.advance("ord-1") == "placed"  # what the worker's task does
    order = services.store.get("ord-1")
    assert order.status == "placed" and order.path == "worker"
    assert services.store.indexes.stats() == {"submit|placed|worker": 1}


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_an_overrun_order_with_a_callback_url_owes_its_callback(service, pos, tasks, services):
    status, _ = submit(service, callback_url="https://par.example/cb")
    assert status == 202
    pos.gate.set()
    service.advance("ord-1")
    assert tasks.sent == [("place_order", "ord-1"), ("deliver_callback", "ord-1")]
    assert services.store.get("ord-1").callback == "owed"
    assert services.store.next_move("ord-1", Move.CALLBACK) is not None


def test_an_order_answered_inline_is_called_back_too(service, services, tasks):
    """Issue 18's review: a 202 that never recorded a promise (a reply lost after the final write,
    a duplicate while Redis blipped) must still be called back, so every final of an order with a
    callback_url is; the Idempotency-Key lets a receiver drop what it already knew."""
    status, _ = submit(service, callback_url="https://par.example/cb")
    assert status == 200
    assert services.store.get("ord-1").callback == "owed" and tasks.sent == [("deliver_callback", "ord-1")]


def test_a_ttl_already_expired_at_submit_is_rejected_and_never_placed(service, pos, tasks):
    sent = format_time(time.time() - 120)
    status, body = submit(service, ttl=60, request_datetime=sent)
    assert (status, body["status"]) == (200, "rejected")
    assert "request_expired" in [e["code"] for e in body["errors"]]
    assert moves(pos) == [] and tasks.sent == []


def test_a_submit_refused_by_validation_is_recorded(service, services):
    _status, body = submit(service, location_id="loc-003")
    assert body["status"] == "rejected"
    assert services.store.get("ord-1").status == "rejected"
    assert service.answer("ord-1") == (200, body)


def test_the_same_payload_again_gets_the_same_answer(service, pos):
    request = SCHEMA.load(sample_order(uid="ord-1"))
    first = service.submit(request, time.monotonic())
    again = service.submit(dict(request), time.monotonic())
    assert first[0] == 200 and again == first
    assert moves(pos) == ["place"]


def test_a_different_payload_under_a_used_uid_is_a_conflict(service, pos, services):
    submit(service)
    before = keys(services.redis)
    with pytest.raises(Conflict):
        submit(service, quantity=3)
    assert keys(services.redis) == before
    assert moves(pos) == ["place"]


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_a_duplicate_of_an_order_in_flight_places_nothing_twice(service, pos, tasks):
    request = SCHEMA.load(sample_order(uid="ord-1"))
    results = []
    first = threading.Thread(target=lambda: results.append(service.submit(request, time.monotonic())))
    first.start()
    assert pos.entered.wait(10)
    second = service.submit(request, time.monotonic())
    assert second[0] == 202
    first.join(10)
    assert results[0][0] == 202
    pos.gate.set()
    assert service.advance("ord-1") == "placed"
    assert service.answer("ord-1")[1]["status"] == "placed"
    assert tasks.sent == [("place_order", "ord-1")]


def test_validate_never_creates_a_record_or_places(service, pos, services):
    request = SCHEMA.load(sample_order(uid="ord-v", request_type="validate-order"))
    body = service.validate(request)
    assert body["status"] == "validated" and body["errors"] == []
    assert body["order_details"]["grand_total"] == request["order_details"]["grand_total"]
    assert "pos_order_id" not in body["order_details"]
    assert not list(services.redis.keys("order*"))
    assert moves(pos) == []
    with pytest.raises(NotFound):
        service.answer("ord-v")


def test_validate_reports_every_problem_and_the_computed_totals(service):
    order = sample_order(uid="ord-v", request_type="validate-order", location_id="loc-003")
    order["order_details"]["tax"] += 1
    body = service.validate(SCHEMA.load(order))
    assert body["status"] == "rejected"
    assert {e["code"] for e in body["errors"]} == {"location_closed", "totals_mismatch"}
    # the signed money is the request's own; the computed figures are in the error's `expected`
    assert body["order_details"]["tax"] == order["order_details"]["tax"]
    mismatch = next(e for e in body["errors"] if e["code"] == "totals_mismatch")
    assert mismatch["expected"]["tax"] == sample_order(tax_rate="0.0700")["order_details"]["tax"]


def test_validate_without_a_menu_is_errored_menu_unavailable(service, pos):
    pos.down = True
    body = service.validate(SCHEMA.load(sample_order(uid="ord-v", request_type="validate-order")))
    assert body["status"] == "errored"
    assert [e["code"] for e in body["errors"]] == ["menu_unavailable"]


def test_a_missing_menu_is_fetched_within_the_budget_left(service, pos):
    service.budget = 0.5
    submit(service)
    assert pos.calls[0] == ("menu", "loc-001")
    assert 0 < pos.timeouts[0] <= 0.5


def test_a_stale_menu_is_used_as_it_is_on_the_request_path(service, pos, services):
    submit(service, uid="ord-warm")  # caches the menu
    entry = services.menus.cached("loc-001")
    entry["fetched_at"] = 0  # very stale
    services.redis.set("menu:loc-001", __import__("app.jsonio", fromlist=["dumps"]).dumps(entry))
    pos.calls.clear()
    status, _ = submit(service, uid="ord-stale")
    assert status == 200
    assert [kind for kind, _ in pos.calls] == ["place"]  # no menu fetch on the request path


def test_submit_without_a_menu_is_answered_202_and_a_worker_validates_it(service, pos, services, tasks):
    pos.down = True
    status, body = submit(service)
    assert (status, body["status"]) == (202, "pending")
    assert moves(pos) == [] and tasks.sent == [("place_order", "ord-1")]
    assert not services.store.get("ord-1").validated
    pos.down = False
    assert service.advance("ord-1") == "placed"


def test_a_future_order_keeps_its_promised_time_for_the_pos(service, pos, services):
    promised = format_time(time.time() + timedelta(days=1).total_seconds())
    order = sample_order(uid="ord-f", schedule_type="future")
    order["order_details"]["fulfillment"]["promised_at"] = promised
    status, body = service.submit(SCHEMA.load(order), time.monotonic())
    assert (status, body["status"]) == (200, "placed")
    assert body["schedule_type"] == "future"
    assert body["order_details"]["fulfillment"]["promised_at"] == promised


def test_every_pos_call_carries_the_deadline_as_not_after(service, pos, services, monkeypatch):
    submit(service, ttl=600)
    sent = [jsonio.loads(body)["not_after"] for _, body in pos.bodies]
    assert sent == [format_time(services.store.get("ord-1").deadline)]


def test_a_new_order_sent_long_ago_is_refused_but_a_recorded_one_is_judged_whatever_its_age(service, services, pos):
    old = format_time(time.time() - 3600)
    status, body = submit(service, uid="ord-old", request_datetime=old)
    assert (status, body["status"]) == (200, "rejected")
    assert "request_expired" in [e["code"] for e in body["errors"]] and moves(pos) == []
    body = service.validate(
        SCHEMA.load(sample_order(uid="ord-v", request_type="validate-order", request_datetime=format_time(0)))
    )
    assert body["status"] == "rejected" and "request_expired" in [e["code"] for e in body["errors"]]
    # a recorded order the worker validates later is not refused for its age
    recent = SCHEMA.load(sample_order(uid="ord-late"))
    assert services.service.checks.verdict(dict(recent, request_datetime=old), time.time()).ok


def test_a_menu_changed_in_redis_is_the_one_the_next_request_checks_against(service, pos, services):
    """The process holds the decoded menu by version (app/menus.py); a new entry in Redis wins at once."""
    from app import jsonio

    assert submit(service, uid="ord-before")[0] == 200
    request = SCHEMA.load(sample_order(uid="val-before", request_type="validate-order"))
    assert service.validate(request)["status"] == "validated"
    entry = services.menus.cached("loc-001")
    entry["items"]["item-001"]["price"] = 999  # the Burger now costs 9.99
    services.redis.set("menu:loc-001", jsonio.dumps(entry))
    status, body = submit(service, uid="ord-after")
    assert (status, body["status"]) == (200, "rejected")
    assert "price_mismatch" in {problem["code"] for problem in body["errors"]}
    request = SCHEMA.load(sample_order(uid="val-after", request_type="validate-order"))
    assert service.validate(request)["status"] == "rejected"
