"""The decision functions (app/orders/decide.py) without Redis: every POS answer's next step."""

from __future__ import annotations

import pytest

from app.orders import decide
from app.orders.decide import Next
from app.orders.lifecycle import Status
from app.pos.base import Expired, InProgress, KeyUsed, NotVoidable, Placed, Refused, Transient, Voided, VoidedKey

DEADLINE, SKEW = 1_000.0, 1.0


@pytest.mark.parametrize(
    ("outcome", "next_", "status", "code"),
    [
        (Placed("P-1"), Next.FINISH, Status.PLACED, None),
        (Refused("item_unavailable", "86'd"), Next.FINISH, Status.REJECTED, "item_unavailable"),
        (Expired(), Next.FINISH, Status.ERRORED, "deadline_exceeded"),
        (VoidedKey(), Next.FINISH, Status.ERRORED, "voided"),
        (KeyUsed(), Next.LOOK_UP, None, None),  # our own key: never `rejected`
        (InProgress(), Next.RETRY, None, None),
        (Transient("HTTP 503"), Next.RETRY, None, None),
        (Transient("timeout"), Next.RETRY, None, None),
    ],
)
def test_after_a_post(outcome, next_, status, code):
    decision = decide.after_post(outcome)
    assert (decision.next, decision.status) == (next_, status)
    assert [e["code"] for e in decision.errors] == ([code] if code else [])
    if status is Status.PLACED:
        assert decision.pos_order_id == "P-1"


def test_a_transient_answer_says_why_in_its_note():
    assert decide.after_post(Transient("HTTP 503")).note == "POS attempt: HTTP 503"


def test_after_a_lookup_nothing_there_past_the_deadline_is_deadline_exceeded():
    decision = decide.after_lookup(None, DEADLINE, SKEW)
    assert (decision.next, decision.status, decision.errors[0]["code"]) == (
        Next.FINISH,
        Status.ERRORED,
        "deadline_exceeded",
    )


def test_after_a_lookup_for_a_used_key_nothing_there_yet_is_a_retry():
    assert decide.after_lookup(None, DEADLINE, SKEW, before_deadline=True).next is Next.RETRY


def test_a_voided_pos_order_counts_as_none():
    found = Placed("P-1", created_at=DEADLINE - 5, voided=True)
    assert decide.after_lookup(found, DEADLINE, SKEW).status is Status.ERRORED


@pytest.mark.parametrize(
    ("created_at", "next_"),
    [
        (None, Next.FINISH),  # the POS does not say when: placed
        (DEADLINE - 5, Next.FINISH),
        (DEADLINE + SKEW, Next.FINISH),  # within the clocks' allowance: placed, and listed
        (DEADLINE + SKEW + 0.01, Next.VOID),  # made after the deadline: voided
    ],
)
def test_a_found_order_is_placed_unless_made_after_the_deadline(created_at, next_):
    decision = decide.after_lookup(Placed("P-1", created_at=created_at), DEADLINE, SKEW)
    assert decision.next is next_ and decision.pos_order_id == "P-1"


def test_after_a_void_voided_is_placed_late_and_not_voidable_is_placed():
    voided = decide.after_void(Voided("P-1"), "P-1")
    assert (voided.status, voided.errors[0]["code"]) == (Status.ERRORED, "placed_late")
    kept = decide.after_void(NotVoidable("the kitchen has it"), "P-1")
    assert (kept.status, kept.pos_order_id) == (Status.PLACED, "P-1")


def test_a_post_answered_with_an_order_made_after_the_deadline_is_voided_not_placed():
    """A POS without not_after may create the order late and say so in the answer itself."""
    decision = decide.after_post(Placed("P-1", created_at=DEADLINE + SKEW + 1), DEADLINE, SKEW)
    assert decision.next is Next.VOID and decision.pos_order_id == "P-1"
    assert decide.after_post(Placed("P-1", created_at=DEADLINE), DEADLINE, SKEW).status is Status.PLACED


def test_a_placement_the_clocks_cannot_call_late_or_on_time_is_placed_and_listed():
    decision = decide.after_lookup(Placed("P-1", created_at=DEADLINE + 0.2), DEADLINE, SKEW)
    assert (decision.status, decision.listed) == (Status.PLACED, True)
    assert not decide.after_lookup(Placed("P-1", created_at=DEADLINE - 0.2), DEADLINE, SKEW).listed


@pytest.mark.parametrize(("created_at", "listed"), [(DEADLINE - 1, False), (DEADLINE + 2, True)])
def test_a_cancel_the_pos_will_not_void_is_placed_and_listed_when_made_after_its_deadline(created_at, listed):
    """The 10,000-order run with cancels: a cancel's void refused on an order the POS made 2-3 s
    after its deadline (a POS ignoring not_after) ended placed, live and unlisted."""
    decision = decide.after_cancel(NotVoidable("the kitchen has it"), Placed("P-1", created_at=created_at), DEADLINE)
    assert (decision.next, decision.status, decision.pos_order_id) == (Next.FINISH, Status.PLACED, "P-1")
    assert decision.listed is listed


def test_a_cancel_voided_is_cancelled_and_one_not_voidable_with_nothing_found_is_retried():
    assert decide.after_cancel(Voided(None), None, DEADLINE).status is Status.CANCELLED
    assert decide.after_cancel(NotVoidable("x"), None, DEADLINE).next is Next.RETRY


def test_a_refusal_by_the_rules_is_rejected_with_their_problems():
    problems = [{"code": "unknown_item", "message": "no such item", "field": "order_details.items[0]"}]
    decision = decide.refused(problems, "refused by validation")
    assert (decision.next, decision.status, decision.errors) == (Next.FINISH, Status.REJECTED, problems)
    assert decision.note == "refused by validation" and decision.pos_order_id is None and not decision.listed
