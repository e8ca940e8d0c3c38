"""A worker's move on an order, on fakeredis and a hand-moved clock: every branch of moves.py."""

from __future__ import annotations

import pytest

from app.orders.lifecycle import Move
from app.pos.base import Expired, InProgress, Placed, Refused, Transient
from tests.support.factories import UID, handed_off, until_final


@pytest.fixture
def settings(settings):
    return settings.__class__(
        **{
            **settings.__dict__,
            "clock_skew_seconds": 1.0,
            "reconcile_seconds": 60,
            "retry_base_seconds": 0.5,
            "retry_cap_seconds": 30.0,
        }
    )


def test_a_handed_off_order_is_validated_then_placed(store, mover, pos):
    handed_off(store)
    assert mover.move_order(UID) == "placed"
    assert [kind for kind, _ in pos.calls] == ["menu", "place"]
    order = store.get(UID)
    assert order.validated and order.status == "placed" and order.path == "worker"


def test_a_move_that_is_not_due_or_is_claimed_does_nothing(store, mover, pos, clock):
    handed_off(store)
    claim = store.claim(Move.ORDER, UID, 30)
    assert mover.move_order(UID) == "busy"
    store.retry(UID, claim.token, by="worker", note="POS down", delay=5)
    assert mover.move_order(UID) == "not_due"
    assert pos.calls == []


def test_a_refusal_by_validation_is_final(store, mover, pos):
    handed_off(store, location_id="loc-003")
    assert mover.move_order(UID) == "rejected"
    assert pos.count("place") == 0


def test_no_menu_is_retried_before_the_deadline(store, mover, pos, clock):
    deadline = handed_off(store, ttl=60)
    pos.down = True
    assert mover.move_order(UID) == "retry"
    assert store.next_move(UID) <= deadline + 1.0
    assert not store.get(UID).validated


@pytest.mark.parametrize("outcome", [Transient("HTTP 503"), Transient("timeout"), InProgress()])
def test_a_transient_answer_is_retried_with_backoff_and_counts(store, mover, pos, clock, outcome):
    handed_off(store, validated=True)
    pos.outcomes.append(outcome)
    assert mover.move_order(UID) == "retry"
    order = store.get(UID)
    assert order.calls == 1 and order.status == "pending"
    assert clock.now < store.next_move(UID) <= clock.now + 1.0  # base 0.5 * 2**0, floored at base / 4


def test_the_pos_refusing_is_rejected_and_expired_is_errored(store, mover, pos):
    handed_off(store, uid="a", validated=True)
    handed_off(store, uid="b", validated=True)
    pos.outcomes.extend([Refused("item_unavailable", "86'd"), Expired()])
    assert mover.move_order("a") == "rejected"
    assert mover.move_order("b") == "errored"
    assert store.get("b").doc["errors"][0]["code"] == "deadline_exceeded"


def test_a_post_is_given_no_more_time_than_the_claim_and_the_deadline_leave(store, mover, pos, clock):
    handed_off(store, ttl=5, validated=True)
    mover.move_order(UID)
    assert pos.timeouts[-1] <= min(mover.claim_seconds, 5 + 1.0)


def test_never_validated_by_the_deadline_is_errored_without_a_pos_call(store, mover, pos, clock):
    handed_off(store, ttl=30)
    mover.checks.menus.get("loc-001", timeout=5)  # the menu cached, as the web left it
    pos.calls.clear()
    clock.advance(31)
    assert mover.move_order(UID) == "errored"
    assert pos.calls == []
    assert store.get(UID).doc["errors"][0]["code"] == "deadline_exceeded"


def test_never_validated_and_refused_on_arrival_is_rejected_whatever_the_path(store, mover, pos, clock):
    """The 10,000-order run: an order already past its deadline when it arrived, its web killed
    before the check, was errored/deadline_exceeded by the worker; the rules refuse it."""
    from app.times import format_time

    sent = store.now() - 120
    handed_off(store, deadline=sent + 30, request_datetime=format_time(sent), ttl_override=30)
    clock.advance(1)
    outcome = mover.move_order(UID)
    assert outcome == "rejected", store.get(UID).doc["errors"]
    assert pos.count("place") == 0
    order = store.get(UID)
    assert order.status == "rejected" and order.doc["errors"][0]["code"] != "deadline_exceeded"


def test_just_past_the_deadline_the_decision_waits_for_the_clock_skew_allowance(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    clock.now = deadline + 0.2
    assert mover.move_order(UID) == "retry"
    assert pos.calls == []
    assert store.next_move(UID) == pytest.approx(deadline + 1.0)


def test_after_the_deadline_only_a_lookup_decides_found(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    pos.placed[UID] = Placed("P-7")
    clock.now = deadline + 2
    assert mover.move_order(UID) == "placed"
    assert [kind for kind, _ in pos.calls] == ["lookup"]
    assert store.get(UID).doc["order_details"]["pos_order_id"] == "P-7"


def test_after_the_deadline_a_lookup_showing_nothing_errors_it_at_once(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    clock.now = deadline + 2
    assert mover.move_order(UID) == "errored"
    assert [kind for kind, _ in pos.calls] == ["lookup"]
    assert store.get(UID).doc["errors"][0]["code"] == "deadline_exceeded"


def test_while_lookups_fail_pending_at_most_reconcile_seconds_then_outcome_unknown(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    pos.down = True
    clock.now = deadline + 2
    order = until_final(store, mover, clock)
    assert order.status == "errored"
    assert order.doc["errors"][0]["code"] == "pos_outcome_unknown"
    assert deadline + 60 <= clock.now <= deadline + 60 + 0.5
    assert [row[:2] for row in store.indexes.reconcile_list()] == [(UID, "open")]
    assert store.next_move(UID, Move.RECONCILE) is not None  # the lookups go on


def test_reconciliation_finds_a_late_placement_and_lists_it(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    pos.down = True
    clock.now = deadline + 2
    until_final(store, mover, clock)
    pos.down = False
    pos.placed[UID] = Placed("P-late")
    clock.now = store.next_move(UID, Move.RECONCILE)
    assert mover.reconcile(UID) == "found"
    assert [row[:2] for row in store.indexes.reconcile_list()] == [(UID, "found")]
    assert store.field(UID, "rc_pos_order_id") == "P-late"
    assert store.get(UID).status == "errored"


def test_reconciliation_that_finds_nothing_is_closed(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    pos.down = True
    clock.now = deadline + 2
    until_final(store, mover, clock)
    pos.down = False
    clock.now = store.next_move(UID, Move.RECONCILE)
    assert mover.reconcile(UID) == "absent"
    assert store.indexes.reconcile_list() == [] and store.next_move(UID, Move.RECONCILE) is None
