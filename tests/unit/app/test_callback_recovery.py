"""Regression the reliability harness found (docs/RELIABILITY.md): a callback whose task was lost
(a worker killed with the delivery or its retry countdown in hand, Redis restarted under a
worker) was neither delivered nor kept for replay. A callback owed is now listed from the
write that makes the order final until it is settled, and the sweep re-sends overdue ones."""

from __future__ import annotations

import time

import pytest

from app.callbacks import CallbackSender, Delivery, overdue_at
from app.orders import records
from app.orders.store import PENDING_CALLBACKS_KEY, fingerprint
from bin.sample import sample_order
from tests.unit.helpers import NOW


def create(store, uid, handed_off=True, **overrides):
    request = sample_order(uid=uid, callback_url="https://par.example/cb", **overrides)
    store.create(uid, fingerprint(request), dict(records.new_record(request, NOW), validated=True),
                 NOW + 60, "web", now=NOW)
    if handed_off:
        store.hand_off(uid, NOW, "web")
    return uid


def pending(store) -> dict[str, float]:
    return {k.decode(): v for k, v in store.redis.zrange(PENDING_CALLBACKS_KEY, 0, -1, withscores=True)}


def test_a_worker_order_made_final_owes_its_callback_in_the_same_write(placement, store, settings, tasks):
    uid = create(store, "ord-1")
    assert placement.attempt(uid, "worker").status == "placed"
    assert pending(store) == {uid: pytest.approx(overdue_at(settings, NOW))}
    assert tasks.sent == [("deliver_callback", uid)]


def test_an_inline_order_owes_no_callback(placement, store):
    uid = create(store, "ord-2", handed_off=False)
    assert placement.attempt(uid, "web").status == "placed"
    assert pending(store) == {}


def test_a_callback_retrying_stays_owed_and_a_settled_one_does_not(placement, store, settings):
    uid = create(store, "ord-3")
    placement.attempt(uid, "worker")
    sender = CallbackSender(settings, store)
    before = time.time()
    sender.record(uid, Delivery(False, "HTTP 500"), 1, given_up=False, retry_in=4.0)
    assert pending(store)[uid] >= overdue_at(settings, before + 4.0)
    sender.record(uid, Delivery(True, "HTTP 204"), 2, given_up=False)
    assert pending(store) == {}
    other = create(store, "ord-4")
    placement.attempt(other, "worker")
    sender.record(other, Delivery(False, "HTTP 500"), 3, given_up=True)
    assert pending(store) == {}
    assert [u for u, _ in store.dead_callbacks()] == [other]


def test_overdue_callbacks_are_handed_out_once_then_pushed_back(placement, store, settings):
    uid = create(store, "ord-5")
    placement.attempt(uid, "worker")
    due = overdue_at(settings, NOW)
    assert store.due_callbacks(due - 1, until=due + 60) == []
    assert store.due_callbacks(due + 1, until=due + 60) == [uid]
    assert store.due_callbacks(due + 2, until=due + 60) == []  # the re-sent task has its time
    assert store.due_callbacks(due + 61, until=due + 120) == [uid]


def test_a_callback_settled_meanwhile_is_not_listed_again(placement, store, settings):
    uid = create(store, "ord-6")
    placement.attempt(uid, "worker")
    CallbackSender(settings, store).record(uid, Delivery(True, "HTTP 204"), 1, given_up=False)
    assert store.due_callbacks(NOW + 3600, until=NOW + 7200) == []
    assert pending(store) == {}
