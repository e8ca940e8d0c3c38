"""The order service with FakePos: inline within the budget, else 202 and a worker task."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from app.orders.service import Conflict, NotFound, wait_for_background
from app.pos.base import Refused, Transient
from app.times import format_time
from bin.sample import sample_order
from schemas.orders import OrderRequestSchema
from tests.support.fakes import FakePos, GatedPos
from tests.unit.helpers import keys

SCHEMA = OrderRequestSchema()


@pytest.fixture
def pos(request):
    return GatedPos() if getattr(request, "param", None) == "gated" else FakePos()


@pytest.fixture
def env(env):
    """A budget no stalled machine overruns by accident; overrun tests shorten it on purpose."""
    return {**env, "INLINE_BUDGET_MS": "20000"}


@pytest.fixture
def service(services):
    if isinstance(services.pos, GatedPos):
        services.service.budget = 0.3  # the gate makes the overrun; a short budget only saves time
    yield services.service
    gate = getattr(services.pos, "gate", None)
    if gate is not None:
        gate.set()
    assert wait_for_background(10) == 0


def submit(service, uid="ord-1", **overrides):
    request = SCHEMA.load(sample_order(uid=uid, **overrides))
    return service.submit(request, time.time())


def moves(pos):
    return [kind for kind, _ in pos.calls if kind in ("place", "lookup")]


def test_placed_inline_is_200(service, pos, tasks, services):
    status, body = submit(service)
    assert status == 200
    assert body["status"] == "placed"
    assert body["order_details"]["pos_order_id"] == "P-000001"
    assert body["completed_at"] and body["errors"] == []
    assert "validated" not in body
    assert moves(pos) == ["place"] and tasks.sent == []
    order = services.store.get("ord-1")
    assert order.path == "inline" and order.doc["validated"] is True


def test_a_pos_refusal_is_rejected_with_the_pos_code(service, pos):
    pos.outcomes.append(Refused("location_closed", "closed for a private event"))
    status, body = submit(service)
    assert (status, body["status"]) == (200, "rejected")
    assert body["errors"] == [{"code": "location_closed", "message": "closed for a private event"}]


def test_a_transient_failure_within_the_budget_is_retried_inline(service, pos, tasks):
    pos.outcomes.append(Transient("HTTP 503"))
    status, body = submit(service)
    assert (status, body["status"]) == (200, "placed")
    assert moves(pos) == ["place", "lookup", "place"]
    assert tasks.sent == []


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_an_overrun_answers_202_hands_off_and_enqueues(service, pos, tasks, services):
    status, body = submit(service)
    assert (status, body["status"]) == (202, "pending")
    assert "pos_order_id" not in body["order_details"]
    assert tasks.sent == [("place_order", "ord-1")]
    assert services.store.get("ord-1").handed_off
    pos.gate.set()
    assert wait_for_background(10) == 0
    order = services.store.get("ord-1")
    assert order.status == "placed" and order.path == "worker"
    assert services.store.stats() == {"submit|placed|worker": 1}
    assert moves(pos) == ["place"]


@pytest.mark.parametrize("pos", ["gated"], indirect=True)
def test_an_overrun_order_with_a_callback_url_gets_its_callback(service, pos, tasks):
    status, _ = submit(service, callback_url="https://par.example/cb")
    assert status == 202
    pos.gate.set()
    assert wait_for_background(10) == 0
    assert tasks.sent == [("place_order", "ord-1"), ("deliver_callback", "ord-1")]


def test_transient_failures_past_the_budget_go_to_the_worker(service, pos, tasks, services):
    service.budget = 0.3
    pos.outcomes.extend([Transient("HTTP 503")] * 50)
    status, body = submit(service)
    assert (status, body["status"]) == (202, "pending")
    assert tasks.sent == [("place_order", "ord-1")]
    assert wait_for_background(10) == 0
    pos.outcomes.clear()
    step, countdown = service.advance("ord-1")  # what the worker's task does
    assert (step.status, countdown) == ("placed", None)
    assert moves(pos)[-2:] == ["lookup", "place"]
    assert services.store.get("ord-1").path == "worker"


def test_a_ttl_already_expired_at_submit_is_rejected_and_never_placed(service, pos, tasks):
    sent = format_time(time.time() - 120)
    status, body = submit(service, ttl=60, request_datetime=sent)
    assert (status, body["status"]) == (200, "rejected")
    assert [e["code"] for e in body["errors"]] == ["request_expired"]
    assert moves(pos) == [] and tasks.sent == []


def test_a_submit_refused_by_validation_is_recorded(service, services):
    status, body = submit(service, location_id="loc-003")
    assert body["status"] == "rejected"
    assert services.store.get("ord-1").status == "rejected"
    assert service.answer("ord-1") == (200, body)


def test_the_same_payload_again_gets_the_same_answer(service, pos):
    request = SCHEMA.load(sample_order(uid="ord-1"))
    first = service.submit(request, time.time())
    again = service.submit(dict(request), time.time() + 1)
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
    first = threading.Thread(target=lambda: results.append(service.submit(request, time.time())))
    first.start()
    assert pos.entered.wait(10)
    second = service.submit(request, time.time())
    assert second[0] == 202
    first.join(10)
    pos.gate.set()
    assert wait_for_background(10) == 0
    assert results[0][0] == 202
    assert service.answer("ord-1")[1]["status"] == "placed"
    assert moves(pos) == ["place"]
    assert tasks.sent == [("place_order", "ord-1")]


def test_validate_never_creates_a_record_or_places(service, pos, services):
    request = SCHEMA.load(sample_order(uid="ord-v", request_type="validate-order"))
    body = service.validate(request)
    assert body["status"] == "validated" and body["errors"] == []
    assert body["order_details"]["grand_total"] == request["order_details"]["grand_total"]
    assert "pos_order_id" not in body["order_details"]
    assert not [k for k in services.redis.keys("order*")]
    assert moves(pos) == []
    with pytest.raises(NotFound):
        service.answer("ord-v")


def test_validate_reports_every_problem_and_the_computed_totals(service):
    order = sample_order(uid="ord-v", request_type="validate-order", location_id="loc-003")
    order["order_details"]["tax"] += 1
    body = service.validate(SCHEMA.load(order))
    assert body["status"] == "rejected"
    assert {e["code"] for e in body["errors"]} == {"location_closed", "totals_mismatch"}
    assert body["order_details"]["tax"] == sample_order(tax_rate="0.0700")["order_details"]["tax"]


def test_validate_without_a_menu_is_errored_menu_unavailable(service, pos):
    pos.down = True
    body = service.validate(SCHEMA.load(sample_order(uid="ord-v", request_type="validate-order")))
    assert body["status"] == "errored"
    assert [e["code"] for e in body["errors"]] == ["menu_unavailable"]


def test_submit_without_a_menu_is_errored_and_never_placed(service, pos, services):
    pos.down = True
    status, body = submit(service)
    assert (status, body["status"]) == (200, "errored")
    assert [e["code"] for e in body["errors"]] == ["menu_unavailable"]
    assert moves(pos) == []


def test_a_future_order_keeps_its_promised_time_for_the_pos(service, pos, services):
    promised = format_time(time.time() + timedelta(days=1).total_seconds())
    order = sample_order(uid="ord-f", schedule_type="future")
    order["order_details"]["fulfillment"]["promised_at"] = promised
    status, body = service.submit(SCHEMA.load(order), time.time())
    assert (status, body["status"]) == (200, "placed")
    assert body["schedule_type"] == "future"
    assert body["order_details"]["fulfillment"]["promised_at"] == promised
