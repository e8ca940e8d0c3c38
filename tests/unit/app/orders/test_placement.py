"""One move at the POS: outcomes recorded, lookup before a retry, no POST past the deadline."""

from __future__ import annotations

import pytest

from app.menus import MenuCache
from app.orders import records
from app.orders.service import OrderService
from app.orders.store import fingerprint
from app.pos.base import InProgress, Placed, Refused, Transient
from bin.sample import sample_order
from tests.support.fakes import FakePos
from tests.unit.helpers import NOW


class RecordingPos(FakePos):
    """FakePos that also keeps the read timeout of each POST."""

    def __init__(self):
        super().__init__()
        self.timeouts = []

    def place_order(self, key, body, timeout=None):
        self.timeouts.append(timeout)
        return super().place_order(key, body, timeout)


@pytest.fixture
def pos():
    return RecordingPos()


def record(store, uid="ord-1", deadline=NOW + 60, validated=True, **overrides):
    request = sample_order(uid=uid, **overrides)
    doc = dict(records.new_record(request, NOW), validated=validated)
    store.create(uid, fingerprint(request), doc, deadline, "web", now=NOW)
    return uid


def moves(pos):
    return [kind for kind, _ in pos.calls if kind in ("place", "lookup")]


def test_placed(placement, store, pos, clock):
    uid = record(store)
    clock.advance(1.5)
    step = placement.attempt(uid, "web")
    assert (step.status, step.retry) == ("placed", False)
    order = store.get(uid)
    assert order.status == "placed" and order.final
    assert order.doc["order_details"]["pos_order_id"] == "P-000001"
    assert order.doc["completed_at"] == "2026-11-23T18:00:01.500Z"
    assert order.doc["errors"] == []
    assert moves(pos) == ["place"] and order.attempts == 1


def test_refused_keeps_the_pos_code(placement, store, pos):
    uid = record(store)
    pos.outcomes.append(Refused("item_unavailable", "86'd: Burger"))
    step = placement.attempt(uid, "web")
    assert step.status == "rejected" and not step.retry
    order = store.get(uid)
    assert order.status == "rejected"
    assert order.doc["errors"] == [{"code": "item_unavailable", "message": "86'd: Burger"}]
    assert "pos_order_id" not in order.doc["order_details"]


@pytest.mark.parametrize("outcome", [Transient("timeout"), Transient("HTTP 503"), InProgress()])
def test_a_transient_answer_leaves_the_order_open(placement, store, outcome, pos):
    uid = record(store)
    pos.outcomes.append(outcome)
    step = placement.attempt(uid, "web")
    assert (step.status, step.retry) == ("pending", True)
    assert store.get(uid).status == "pending"
    assert store.history(uid)[-1]["note"].startswith("POS attempt:")


def test_after_an_ambiguous_failure_the_next_attempt_looks_up_first(placement, store, pos):
    uid = record(store)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web")
    step = placement.attempt(uid, "worker")
    assert step.status == "placed"
    assert moves(pos) == ["place", "lookup", "place"]


def test_a_lookup_that_finds_the_order_places_it_without_a_second_post(placement, store, pos):
    uid = record(store)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web")
    pos.placed[uid] = Placed("P-777", 2687, replayed=True)  # the timed-out POST did create it
    step = placement.attempt(uid, "worker")
    assert step.status == "placed"
    assert moves(pos) == ["place", "lookup"]
    assert store.get(uid).doc["order_details"]["pos_order_id"] == "P-777"
    assert store.history(uid)[-1]["note"] == "found at the POS"


def test_a_lookup_that_cannot_be_made_retries_without_posting(placement, store, pos):
    uid = record(store)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web")
    pos.lookup_down = True
    step = placement.attempt(uid, "worker")
    assert (step.status, step.retry) == ("pending", True)
    assert moves(pos) == ["place", "lookup"]


def test_past_the_deadline_an_unanswerable_lookup_keeps_the_order_open(placement, store, pos, clock):
    uid = record(store, deadline=NOW + 10)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web")
    pos.lookup_down = True
    clock.advance(11)
    step = placement.attempt(uid, "worker")  # the POS may hold it: errored would be a guess
    assert (step.status, step.retry) == ("pending", True)
    assert store.get(uid).status == "pending"
    assert moves(pos) == ["place", "lookup"]


def test_past_the_deadline_nothing_is_posted(placement, store, pos, clock):
    uid = record(store, deadline=NOW + 10)
    clock.advance(10)
    step = placement.attempt(uid, "worker")
    assert step.status == "errored"
    order = store.get(uid)
    assert [e["code"] for e in order.doc["errors"]] == ["deadline_exceeded"]
    assert moves(pos) == []


def test_past_the_deadline_a_found_order_is_still_placed(placement, store, pos, clock):
    uid = record(store, deadline=NOW + 10)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web")
    pos.placed[uid] = Placed("P-9")
    clock.advance(60)
    assert placement.attempt(uid, "worker").status == "placed"
    assert moves(pos) == ["place", "lookup"]


def test_the_read_timeout_never_outlives_the_deadline(placement, store, pos, clock):
    uid = record(store, deadline=NOW + 3)
    clock.advance(1)
    pos.outcomes.append(Transient("timeout"))
    placement.attempt(uid, "web", timeout=10)
    placement.attempt(uid, "web", timeout=0.5)
    assert pos.timeouts == [pytest.approx(2.0), 0.5]


def test_a_final_order_is_left_alone(placement, store, pos):
    uid = record(store)
    placement.attempt(uid, "web")
    assert placement.attempt(uid, "worker").status == "placed"
    assert placement.attempt("missing", "worker").status == "missing"
    assert moves(pos) == ["place"]


def test_a_handed_off_order_with_callback_url_gets_its_callback(placement, store, tasks):
    uid = record(store, callback_url="https://par.example/cb")
    store.hand_off(uid, NOW, "web")
    placement.attempt(uid, "worker")
    assert tasks.sent == [("deliver_callback", uid)]


def test_an_inline_order_gets_no_callback(placement, store, tasks):
    uid = record(store, callback_url="https://par.example/cb")
    placement.attempt(uid, "web")
    assert tasks.sent == []


def test_a_losing_writer_reports_the_winner(placement, store):
    uid = record(store)
    order = store.get(uid)
    placement.finish(order, "rejected", "web", [{"code": "x", "message": "y"}])
    assert placement.finish(order, "placed", "worker", pos_order_id="P-1").status == "rejected"
    assert store.get(uid).status == "rejected"


@pytest.mark.parametrize("attempts", [1, 2, 3, 6])
def test_backoff_is_bounded(placement, settings, attempts):
    base, cap = settings.retry_base_seconds, settings.retry_cap_seconds
    for _ in range(50):
        delay = placement.backoff(attempts, NOW + 100)
        assert base / 2 <= delay <= min(cap, base * 2 ** (attempts - 1))


def test_backoff_never_passes_the_deadline(placement, clock):
    assert placement.backoff(3, NOW + 0.01) <= 0.01
    assert placement.backoff(3, NOW - 5) > 0  # past it, a lookup retry waits like any other


@pytest.fixture
def service(settings, store, pos, tasks, clock, redis_client):
    return OrderService(settings, store, MenuCache(redis_client, pos, 300, clock), pos, tasks, clock)


def test_advance_with_the_lease_held_waits_and_calls_nobody(service, store, pos):
    uid = record(store)
    store.acquire(uid, 30)
    step, countdown = service.advance(uid)
    assert step.retry and 0 < countdown <= 1.05
    assert moves(pos) == []


def test_advance_hands_off_validates_and_places(service, store, pos):
    uid = record(store, validated=False)
    step, countdown = service.advance(uid)
    assert (step.status, countdown) == ("placed", None)
    order = store.get(uid)
    assert order.handed_off and order.path == "worker"
    assert store.stats() == {"submit|placed|worker": 1}
    assert store.lease_left(uid) == 0


def test_advance_rejects_an_order_that_fails_validation(service, store, pos):
    uid = record(store, validated=False, location_id="loc-003")
    step, countdown = service.advance(uid)
    assert (step.status, countdown) == ("rejected", None)
    assert "location_closed" in [e["code"] for e in store.get(uid).doc["errors"]]
    assert moves(pos) == []


def test_advance_after_a_transient_failure_schedules_a_retry(service, store, pos, clock):
    uid = record(store)
    pos.outcomes.append(Transient("HTTP 502"))
    step, countdown = service.advance(uid)
    assert step.retry and 0 <= countdown <= 0.2
    assert store.get(uid).next_at == pytest.approx(NOW + countdown)
    assert store.lease_left(uid) == 0


def test_advance_on_a_final_or_missing_order(service, store, pos):
    uid = record(store)
    service.advance(uid)
    step, countdown = service.advance(uid)
    assert (step.status, step.retry, countdown) == ("placed", False, None)
    assert service.advance("missing")[0].status == "missing"
    assert moves(pos) == ["place"]


def test_advance_until_the_deadline_then_errored(service, store, pos, clock):
    uid = record(store, deadline=NOW + 1)
    pos.outcomes.extend([Transient("HTTP 503")] * 3)
    service.advance(uid)
    clock.advance(2 + service.placement.settle_seconds)  # past the time the last POST could land
    step, countdown = service.advance(uid)
    assert (step.status, countdown) == ("errored", None)
    assert store.get(uid).doc["errors"][0]["code"] == "deadline_exceeded"

