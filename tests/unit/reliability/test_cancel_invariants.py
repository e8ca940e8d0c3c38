"""Issue 19's invariants (reliability/cancels.py) on hand-made evidence: each fails on the
evidence that breaks it and holds on the evidence that keeps it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.times import format_time
from reliability.cancels import KIND, check_cancels
from reliability.invariants import Evidence, check_pos_orders
from reliability.load import Call, Journal
from reliability.orders import Planned
from reliability.receiver import Receiver

T0 = 1_800_000_000.0


def order(uid, status="cancelled", requested=None, pos_order_id=None):
    doc = {
        "status": status,
        "completed_at": format_time(T0 + 2),
        "errors": [],
        "order_details": {"pos_order_id": pos_order_id} if status == "placed" else {},
    }
    return SimpleNamespace(
        uid=uid,
        status=status,
        final=status != "pending",
        doc=doc,
        deadline=T0 + 30,
        created=T0,
        cancel_requested_at=requested,
        callback="",
        reconcile="",
    )


def entry(uid, status="accepted", pos_order_id="P-1"):
    return {
        "external_id": uid,
        "pos_order_id": pos_order_id,
        "created_at": format_time(T0 + 1),
        "received_at": format_time(T0 + 0.5),
        "not_after": format_time(T0 + 30),
        "total": 100,
        "status": status,
        "location_id": "loc-001",
    }


@pytest.fixture
def receiver():
    made = Receiver(b"0123456789", trickle_seconds=1.0)
    yield made
    made.server.server_close()


def evidence(receiver, records, ledger=(), calls=(), last_posts=None, **extra):
    journal = Journal()
    for uid in records:
        journal.planned[uid] = Planned(uid, KIND, "accepted", {})
    for call in calls:
        journal.add(call)
    pos_calls = {
        uid: {"posts": 1, "lookups": 0, "last_post_at": format_time(at)} for uid, at in (last_posts or {}).items()
    }
    return Evidence(
        journal,
        receiver,
        [],
        records,
        list(ledger),
        set(),
        pos_calls=pos_calls,
        final_at={uid: T0 + 2 for uid, o in records.items() if o.final},
        **extra,
    )


def cancel_call(uid, status, body, started=T0 + 1.5):
    return Call(uid, KIND, started, started + 0.1, status, body)


def test_a_cancelled_order_with_a_live_pos_order_fails_and_a_voided_one_holds(receiver):
    records = {"c-live": order("c-live", requested=T0 + 1.5), "c-void": order("c-void", requested=T0 + 1.5)}
    ledger = [entry("c-live"), entry("c-void", status="voided", pos_order_id="P-2")]
    (none_live, _, _), _ = check_cancels(evidence(receiver, records, ledger))
    assert none_live.checked == 2
    assert [v.split(":")[0] for v in none_live.violations] == ["c-live"]


def test_a_post_received_after_the_cancel_was_recorded_fails_one_in_transit_holds(receiver):
    records = {
        "late": order("late", requested=T0 + 1.5),
        "transit": order("transit", requested=T0 + 1.5),
        "at-once": order("at-once"),
    }  # cancelled at once: its final transition is the moment
    posts = {"late": T0 + 2.0, "transit": T0 + 1.6, "at-once": T0 + 2.5}
    (_, no_post, _), stats = check_cancels(evidence(receiver, records, last_posts=posts))
    assert no_post.checked == 3
    assert sorted(v.split(":")[0] for v in no_post.violations) == ["at-once", "late"]
    assert stats["cancelled at once (no POST sent)"] == 1


def test_cancel_answers_must_show_the_record(receiver):
    records = {
        "ok": order("ok", requested=T0 + 1.5),
        "placed": order("placed", "placed", T0 + 1.5, "P-3"),
        "wrong409": order("wrong409"),
        "wrong200": order("wrong200"),
        "bad202": order("bad202"),
    }
    calls = [
        cancel_call("ok", 202, {"status": "pending", "cancel_requested_at": "x"}),
        cancel_call("ok", 200, {"status": "cancelled"}),
        cancel_call("placed", 200, {"status": "placed"}),
        cancel_call("placed", 409, {"status": "errored", "errors": [{"code": "not_cancellable"}]}),
        cancel_call("wrong409", 409, {"status": "errored", "errors": [{"code": "not_cancellable"}]}),
        cancel_call("wrong200", 200, {"status": "placed"}),
        cancel_call("bad202", 202, {"status": "pending"}),
    ]
    (_, _, answers), stats = check_cancels(evidence(receiver, records, calls=calls))
    assert answers.checked == 7
    assert sorted(v.split(":")[0] for v in answers.violations) == ["bad202", "wrong200", "wrong409"]
    assert stats["placed after the cancel was recorded (the POS would not void it)"] == 1


@pytest.mark.parametrize(
    ("adapter", "listed", "made_after", "excused"),
    [
        ("square", True, True, True),  # a POS that cannot close a key, the void refused: listed
        ("rest", True, True, False),  # void by key closes the key: nothing can be made after it
        ("square", False, True, False),  # not listed for on-call
        ("square", True, False, False),  # made before the cancel: the void should have caught it
    ],
)
def test_a_live_order_of_a_cancelled_one_is_excused_only_when_made_after_on_a_pos_without_void_by_key(
    receiver, adapter, listed, made_after, excused
):
    requested = T0 + 0.5 if made_after else T0 + 1.5  # the ledger's order was created at T0 + 1
    records = {"kept": order("kept", requested=requested)}
    ev = evidence(
        receiver, records, [entry("kept")], settings={"POS_ADAPTER": adapter}, found={"kept"} if listed else set()
    )
    (none_live, _, _), stats = check_cancels(ev)
    _one, none = check_pos_orders(ev)
    assert (none_live.violations == []) is excused and (none.violations == []) is excused
    assert bool(stats.get("cancelled; a POS order made after it, not voidable: listed for on-call")) is excused
