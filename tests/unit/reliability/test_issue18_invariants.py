"""Issue 18's invariants on hand-made evidence: each fails on the evidence that breaks it.

Callbacks owed from the journal's 202s (not the old `handed` flag); no two deliveries of one
callback at once; late placements voided or listed; `placed` means one live POS order;
"created after its deadline" judged only where the POS honours not_after.
"""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from app.times import format_time
from reliability.invariants import (
    Evidence,
    check_all,
    check_callbacks,
    check_callbacks_apart,
    check_created_in_time,
    check_late_placements,
    check_pos_orders,
)
from reliability.load import Call, Journal
from reliability.orders import Planned
from reliability.receiver import LEFT, Delivery, Receiver

T0 = 1_800_000_000.0
DEADLINE = T0 + 10
SETTINGS = {"CALLBACK_TIMEOUT_SECONDS": "3", "CLOCK_SKEW_SECONDS": "1"}


def order(uid, status="placed", pos_order_id="P-1", codes=(), reconcile="", callback_url=None):
    doc = {
        "status": status,
        "completed_at": format_time(T0 + 1),
        "errors": [{"code": c} for c in codes],
        "order_details": {"pos_order_id": pos_order_id} if status == "placed" else {},
    }
    if callback_url:
        doc["callback_url"] = callback_url
    return SimpleNamespace(
        uid=uid,
        status=status,
        final=status != "pending",
        doc=doc,
        deadline=DEADLINE,
        created=T0,
        handed_off=False,
        callback="",
        reconcile=reconcile,
    )


def entry(uid, pos_order_id="P-1", created=T0 + 1, status="accepted", location="loc-001", not_after=DEADLINE):
    return {
        "external_id": uid,
        "pos_order_id": pos_order_id,
        "created_at": format_time(created),
        "received_at": format_time(T0 + 0.5),
        "not_after": format_time(not_after),
        "total": 100,
        "status": status,
        "location_id": location,
    }


@pytest.fixture
def receiver():
    made = Receiver(b"0123456789", trickle_seconds=1.0)
    yield made
    made.server.server_close()


def evidence(receiver, records, ledger=(), journal=None, **extra):
    journal = journal or Journal()
    for uid in records:  # the run planned each of them
        journal.planned.setdefault(uid, Planned(uid, "plain", "accepted", {}))
    return Evidence(journal, receiver, [], records, list(ledger), set(), settings=SETTINGS, **extra)


def names(check) -> list[str]:
    return sorted({v.split(":")[0] for v in check.violations})


# -- callbacks owed: the journal's 202s -------------------------------------------------------


def test_every_202_from_any_path_owes_the_callback(receiver):
    """Finding 5: PAR's resubmit after a web kill was answered 202 and the record never said
    `handed`: the old check skipped it. Now any 202 (not a poll) owes it."""
    url = "http://127.0.0.1:1/cb"
    journal = Journal()
    for uid, kind, status in (
        ("resubmitted", "submit", None),
        ("resubmitted", "resubmit", 202),
        ("delivered", "submit", 202),
        ("kept", "concurrent", 202),
        ("inline", "submit", 200),
        ("trickled", "submit", 202),
    ):
        journal.add(Call(uid, kind, T0, T0 + 0.1, status, {"status": "pending"}))
    records = {
        uid: order(uid, callback_url=url)
        for uid in ("resubmitted", "delivered", "kept", "inline", "trickled", "worker")
    }
    receiver.deliveries = [
        Delivery("delivered", T0 + 2, "placed", True, 204),
        Delivery("trickled", T0 + 2, "placed", True, LEFT, ended=T0 + 5),
    ]  # the sender left
    ev = evidence(receiver, records, journal=journal, final_by={"worker": "worker", "inline": "web"})
    ev.dead_callbacks = {"kept"}
    check = check_callbacks(ev)
    assert names(check) == ["resubmitted", "trickled", "worker"]
    assert check.checked == 5  # the inline 200 with no 202 ever given owes none
    ev.final_by = {}  # without the history, the journal's 202s alone
    assert names(check_callbacks(ev)) == ["resubmitted", "trickled"]


def test_a_poll_promises_no_callback(receiver):
    journal = Journal()
    journal.add(Call("polled", "poll", T0, T0 + 0.1, 202, {"status": "pending"}))
    ev = evidence(receiver, {"polled": order("polled", callback_url="http://127.0.0.1:1/cb")}, journal=journal)
    assert check_callbacks(ev).checked == 0


# -- deliveries of one callback never at once ---------------------------------------------------


def test_two_deliveries_of_one_callback_at_once_are_a_violation(receiver):
    """Finding 4: sender A trickled for 14 s, sender B delivered meanwhile."""
    receiver.deliveries = [
        Delivery("apart", T0, "placed", True, LEFT, ended=T0 + 3.0),
        Delivery("apart", T0 + 3.6, "placed", True, 204),
        Delivery("at-once", T0, "placed", True, 200, ended=T0 + 14),
        Delivery("at-once", T0 + 10.5, "placed", True, 204),
        Delivery("fin-lag", T0, "placed", True, LEFT, ended=T0 + 3.1),
        Delivery("fin-lag", T0 + 3.0, "placed", True, 204),
    ]
    check = check_callbacks_apart(evidence(receiver, {}))
    assert check.checked == 3
    assert names(check) == ["at-once"]
    assert any("began 3.50s before" in v for v in check.violations)
    assert any("lasted 14.0s" in v for v in check.violations)  # the sender was held past its bound too


def test_a_delivery_held_past_callback_timeout_is_a_violation(receiver):
    receiver.deliveries = [
        Delivery("bounded", T0, "placed", True, LEFT, ended=T0 + 3.9),
        Delivery("held", T0, "placed", True, LEFT, ended=T0 + 4.2),
    ]
    assert names(check_callbacks_apart(evidence(receiver, {}))) == ["held"]


def test_a_delivery_across_a_cut_worker_host_is_judged_by_nobody(receiver):
    """The cluster's worker_cut: the sender's hang-up reaches the receiver only after the link is
    back. Excused only across such a window."""
    from harness.faults import Window

    receiver.deliveries = [
        Delivery("cut", T0, "placed", True, 200, ended=T0 + 9),
        Delivery("cut", T0 + 5, "placed", True, 204),
    ]
    ev = evidence(receiver, {})
    assert names(check_callbacks_apart(ev)) == ["cut"]
    ev.windows = [Window("worker_cut", T0 + 1, T0 + 21)]
    assert check_callbacks_apart(ev).violations == []
    ev.windows = [Window("kill_web", T0 + 1, T0 + 21)]
    assert names(check_callbacks_apart(ev)) == ["cut"]


def test_the_receiver_sees_a_trickled_sender_hang_up(receiver):
    """The trickling mode: the first delivery is answered a byte at a time; a sender that hangs
    up is recorded LEFT at that moment; one that stays gets the 200 (the second delivery, 204)."""
    receiver.start()
    try:
        port = receiver.server.server_address[1]
        request = (
            b"POST /cb/tr?mode=trickle HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            first = sock.recv(4)
            time.sleep(0.2)
        deadline = time.time() + 5
        while time.time() < deadline and not (receiver.deliveries and receiver.deliveries[0].ended):
            time.sleep(0.01)
        left = receiver.deliveries[0]
        assert first and len(first) < 4 and left.answered == LEFT
        assert 0.15 < left.ended - left.at < 0.6
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            assert sock.recv(100).startswith(b"HTTP/1.0 204")
    finally:
        receiver.server.shutdown()


# -- late placements -----------------------------------------------------------------------------


def test_placed_means_exactly_one_live_pos_order(receiver):
    records = {"ok": order("ok"), "voided": order("voided"), "listed-late": order("listed-late")}
    ledger = [
        entry("ok"),
        entry("voided", status="voided"),
        entry("listed-late", created=DEADLINE + 2),
    ]  # not voidable: placed, listed
    one, _ = check_pos_orders(evidence(receiver, records, ledger, found={"listed-late"}))
    assert one.checked == 3 and names(one) == ["voided"]


def test_another_final_has_no_live_pos_order_but_a_late_one_listed_after_a_refused_void(receiver):
    records = {
        "voided": order("voided", "errored", codes=("placed_late",)),
        "refused-void": order("refused-void", "errored", codes=("deadline_exceeded",), reconcile="found"),
        "unlisted": order("unlisted", "errored", codes=("deadline_exceeded",), reconcile="found"),
        "on-time": order("on-time", "errored", codes=("deadline_exceeded",), reconcile="found"),
        "live-late": order("live-late", "errored", codes=("deadline_exceeded",), reconcile="absent"),
    }
    ledger = [
        entry("voided", created=DEADLINE + 2, status="voided"),
        entry("refused-void", created=DEADLINE + 2),
        entry("unlisted", created=DEADLINE + 2),
        entry("on-time", created=DEADLINE - 1),
        entry("live-late", created=DEADLINE + 2),
    ]
    found = {"refused-void", "on-time", "live-late"}
    _, none = check_pos_orders(evidence(receiver, records, ledger, found=found))
    assert none.checked == 5
    assert names(none) == ["live-late", "on-time", "unlisted"]


def test_no_late_pos_order_stays_live_unnoticed(receiver):
    records = {uid: order(uid) for uid in ("voided", "listed", "unnoticed", "on-time", "within-skew")}
    ledger = [
        entry("voided", created=DEADLINE + 3, status="voided"),
        entry("listed", created=DEADLINE + 3),
        entry("unnoticed", created=DEADLINE + 1.1),
        entry("on-time", created=DEADLINE - 0.5),
        entry("within-skew", created=DEADLINE + 0.9),
    ]  # the engine's stated allowance for the POS's clock
    check, stats = check_late_placements(evidence(receiver, records, ledger, found={"listed"}))
    assert check.checked == 4 and names(check) == ["unnoticed"]
    assert stats == {"voided": 1, "listed": 1, "within_skew": 1, "unnoticed": 1}


def test_created_after_the_deadline_is_judged_only_where_the_pos_honours_not_after(receiver):
    records = {uid: order(uid) for uid in ("honoured", "ignored", "ignored-bad-not-after")}
    ledger = [
        entry("honoured", created=DEADLINE + 2),
        entry("ignored", created=DEADLINE + 2, location="loc-002"),
        entry("ignored-bad-not-after", location="loc-002", not_after=DEADLINE + 5),
    ]
    check = check_created_in_time(evidence(receiver, records, ledger, late_locations=("loc-002",)))
    assert check.checked == 3 and names(check) == ["honoured", "ignored-bad-not-after"]
    assert names(check_created_in_time(evidence(receiver, records, ledger))) == sorted(records)


def test_check_all_runs_the_new_checks(receiver):
    ev = Evidence(Journal(), receiver, [], {"u1": order("u1")}, [entry("u1")], set(), settings=SETTINGS)
    checks, stats = check_all(ev, T0 + 30)
    starts = [c.name for c in checks]
    assert any("left live unnoticed" in n for n in starts)
    assert any(n.startswith("no two deliveries of one callback at once") for n in starts)
    assert stats["late_placements"] == {"voided": 0, "listed": 0, "within_skew": 0, "unnoticed": 0}
