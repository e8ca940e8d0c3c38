"""The reliability run's tight invariants (issue 10) on hand-made evidence, and the bounds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from app.times import format_time
from reliability.bounds import FIXED_CALLS, pos_call_bound, reconcile_slack
from reliability.invariants import (
    OUTAGE,
    Evidence,
    check_all,
    check_callbacks_once,
    check_created_in_time,
    check_final,
    check_pos_calls,
)
from reliability.load import Journal
from reliability.receiver import Delivery, Receiver

T0 = 1_800_000_000.0
SETTINGS = {
    "RECONCILE_SECONDS": "8",
    "CLOCK_SKEW_SECONDS": "1",
    "SWEEP_SECONDS": "1",
    "POS_CONNECT_TIMEOUT": "1",
    "POS_READ_TIMEOUT": "3",
    "RETRY_BASE_SECONDS": "0.5",
    "RETRY_CAP_SECONDS": "4",
    "ORDER_MAX_ASYNC_SECONDS": "15",
}


def order(uid="u1", status="placed", deadline=T0 + 10, completed=T0 + 1, codes=()):
    doc = {
        "status": status,
        "completed_at": format_time(completed) if completed else None,
        "errors": [{"code": c} for c in codes],
        "order_details": {},
    }
    return SimpleNamespace(
        uid=uid,
        status=status,
        final=status != "pending",
        doc=doc,
        deadline=deadline,
        created=T0,
        handed_off=True,
        callback=None,
        reconcile="",
    )


def entry(uid="u1", created=T0 + 1, not_after=None, received=None):
    return {
        "external_id": uid,
        "pos_order_id": "P-1",
        "created_at": format_time(created),
        "received_at": format_time(received or created),
        "not_after": format_time(not_after) if not_after else None,
        "total": 100,
    }


@pytest.fixture
def receiver():
    made = Receiver(b"0123456789")
    yield made
    made.server.server_close()


def evidence(receiver, records, ledger=(), calls=None):
    return Evidence(Journal(), receiver, [], records, list(ledger), set(), pos_calls=calls or {}, settings=SETTINGS)


def test_the_backoff_bound_follows_its_formula():
    assert pos_call_bound(16, 0.5, 8) == pytest.approx(5 + 4 + FIXED_CALLS + 3 * 2)
    assert pos_call_bound(0, 0.5, 8) == FIXED_CALLS
    # the old engine's 0.25-0.5 s lookups over 16 s (finding 9: about 40 calls) break it
    assert pos_call_bound(16, 0.5, 8) < 16 / 0.375
    assert reconcile_slack(1, 2, 1, 3) == 1 + 4 + 4 + 2


def test_a_pos_order_created_after_its_deadline_is_a_violation(receiver):
    records = {"u1": order(), "u2": order("u2"), "u3": order("u3")}
    ledger = [
        entry("u1", created=T0 + 9),
        entry("u2", created=T0 + 10.5),
        entry("u3", created=T0 + 2, not_after=T0 + 12),
    ]  # a not_after later than the deadline
    check = check_created_in_time(evidence(receiver, records, ledger))
    assert check.checked == 3
    assert [v.split(":")[0] for v in check.violations] == ["u2", "u3"]


def test_pending_past_deadline_plus_reconcile_seconds_is_a_violation(receiver):
    ev = evidence(receiver, {})
    slack = reconcile_slack(1, 1, 1, 3) + OUTAGE
    bound = T0 + 10 + 8 + slack
    ev.records = {
        "open-ok": order("open-ok", "pending", completed=None),
        "late": order("late", "errored", completed=bound + 1, codes=("pos_outcome_unknown",)),
        "ok": order("ok", "errored", completed=bound - 1),
    }
    assert check_final(ev, bound - 0.5).violations == [
        v for v in check_final(ev, bound - 0.5).violations if v.startswith("late")
    ]
    late = check_final(ev, bound + 0.5).violations
    assert sorted(v.split(":")[0] for v in late) == ["late", "open-ok"]


def test_a_beat_killed_meanwhile_extends_the_bound_by_its_lock_takeover_only(receiver):
    """The 10,000-order run: beat's lock holder killed 3 s before the deadline, then Redis
    restarted; the order was decided 24.1 s past its deadline (bound 22 s). Nothing could
    dispatch until the killed beat's lock expired (10 s)."""
    from harness.faults import Window

    bound = T0 + 10 + 8 + reconcile_slack(1, 1, 1, 3) + OUTAGE
    ev = evidence(
        receiver,
        {
            "slow": order("slow", "placed", completed=bound + 2.1),
            "late": order("late", "placed", completed=bound + 10.5),
        },
    )
    assert sorted(v.split(":")[0] for v in check_final(ev, bound + 60).violations) == ["late", "slow"]
    ev.windows = [Window("kill_beat", T0 + 7, T0 + 10)]
    assert [v.split(":")[0] for v in check_final(ev, bound + 60).violations] == ["late"]
    ev.windows = [Window("kill_beat", T0 - 30, T0 - 27)]  # long before: nothing excused
    assert len(check_final(ev, bound + 60).violations) == 2


def test_a_worker_killed_holding_the_claim_and_a_second_redis_outage_extend_the_bound(receiver):
    """The fourth 10,000-order run: two Redis outages, then worker1 SIGKILLed holding the order's
    claim (it lapses after 3 x (connect + read) + 0.5 s); decided 22.9 s past its deadline."""
    from harness.faults import Window

    bound = T0 + 10 + 8 + reconcile_slack(1, 1, 1, 3) + OUTAGE
    claim = 3 * (1 + 3) + 0.5
    ev = evidence(
        receiver,
        {
            "held": order("held", "errored", completed=bound + claim + OUTAGE - 0.5),
            "late": order("late", "errored", completed=bound + claim + OUTAGE + 0.5),
        },
    )
    ev.windows = [
        Window("kill_redis_after_final", T0 + 9, T0 + 11),
        Window("restart_redis", T0 + 15, T0 + 19),
        Window("kill_worker", T0 + 25, T0 + 30),
    ]
    assert [v.split(":")[0] for v in check_final(ev, bound + 60).violations] == ["late"]
    ev.windows = ev.windows[:1]  # one outage only: the base bound
    assert len(check_final(ev, bound + 60).violations) == 2


def test_a_second_delivery_after_a_delivered_callback_is_a_violation(receiver):
    receiver.deliveries = [
        Delivery("flaky", T0, "placed", True, 500),
        Delivery("flaky", T0 + 1, "placed", True, 204),
        Delivery("twice", T0, "placed", True, 204),
        Delivery("twice", T0 + 9, "placed", True, 204),
        Delivery("dead", T0, "errored", True, 500),
        Delivery("dead", T0 + 1, "errored", True, 500),
    ]
    check = check_callbacks_once(evidence(receiver, {}))
    assert check.checked == 3
    assert [v.split(":")[0] for v in check.violations] == ["twice"]


def test_one_resend_after_its_sender_was_killed_is_the_only_second_delivery_allowed(receiver):
    """The 10,000-order run: worker2 SIGKILLed just after the receiver answered 204, before the
    record; the next mover sent it again, with the same Idempotency-Key."""
    from harness.faults import Window

    key = "killed:placed"
    receiver.deliveries = [
        Delivery("killed", T0, "placed", True, 204, key),
        Delivery("killed", T0 + 17, "placed", True, 204, key),
        Delivery("thrice", T0, "placed", True, 204, "thrice:placed"),
        Delivery("thrice", T0 + 17, "placed", True, 204, "thrice:placed"),
        Delivery("thrice", T0 + 30, "placed", True, 204, "thrice:placed"),
        Delivery("nokey", T0, "placed", True, 204),
        Delivery("nokey", T0 + 17, "placed", True, 204),
    ]
    ev = evidence(receiver, {})
    ev.windows = [Window("kill_worker", T0 + 0.2, T0 + 5)]
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["nokey", "thrice"]
    ev.windows = [Window("kill_worker", T0 + 20, T0 + 25)]  # killed later: the resend is a violation
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["killed", "nokey", "thrice"]
    # the cluster run (issue 21): worker1 cut off from Redis 40 ms after its delivery's 204
    ev.windows = [Window("worker_cut", T0 + 0.04, T0 + 20)]
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["nokey", "thrice"]
    # 10k run g: kill_mover SIGKILLed worker2 (its archive mover held the lock) inside its window,
    # which began 0.7 s before the 204; the kill came after it, the window's start did not
    ev.windows = [Window("kill_mover", T0 - 0.7, T0 + 6.8)]
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["nokey", "thrice"]
    ev.windows = [Window("kill_mover", T0 + 20, T0 + 27)]  # killed later: the resend is a violation
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["killed", "nokey", "thrice"]
    ev.windows = [Window("pos_down", T0 - 0.7, T0 + 6.8)]  # a fault that kills no sender excuses nothing
    assert sorted(v.split(":")[0] for v in check_callbacks_once(ev).violations) == ["killed", "nokey", "thrice"]


def test_pos_calls_beyond_the_backoff_bound_are_a_violation(receiver):
    records = {
        "calm": order("calm", completed=T0 + 16),
        "storm": order("storm", completed=T0 + 16),
        "unknown": order("unknown", "errored", completed=T0 + 16, codes=("pos_outcome_unknown",)),
    }
    bound16 = pos_call_bound(16, 0.5, 4)
    calls = {
        "calm": {"posts": 2, "lookups": math.floor(bound16) - 2},
        "storm": {"posts": 1, "lookups": 61},
        "unknown": {"posts": 1, "lookups": math.floor(bound16) + 5},
    }  # still looked up after: judged to now
    check = check_pos_calls(evidence(receiver, records, calls=calls), T0 + 60)
    assert check.checked == 3
    assert [v.split(":")[0] for v in check.violations] == ["storm"]


def test_check_all_keeps_its_shape_for_evidence_without_the_new_fields(receiver):
    # H12's multi-host harness builds Evidence positionally, without pos_calls or settings
    ev = Evidence(Journal(), receiver, [], {"u1": order()}, [entry()], set())
    checks, stats = check_all(ev, T0 + 20)
    tight = {c.name.split(" ")[0] + " " + c.name.split(" ")[1]: c for c in checks}
    for name in ("no POS", "no order", "no callback", "POS calls"):
        assert name in tight and not tight[name].violations, (name, tight.get(name))
    assert stats["orders_sent_without_not_after"] == 1


def test_a_completed_at_off_the_stores_clock_is_a_violation(receiver):
    from reliability.invariants import check_completed_at

    records = {"ok": order("ok", completed=T0 + 5), "skewed": order("skewed", completed=T0 + 35)}
    ev = evidence(receiver, records)
    ev.final_at = {"ok": T0 + 5.4, "skewed": T0 + 5}  # a worker whose clock runs 30 s ahead wrote it
    check = check_completed_at(ev)
    assert check.checked == 2 and [v.split(":")[0] for v in check.violations] == ["skewed"]
    # the reconcile check judges by the store's clock when it has it
    ev.records = {"skewed": records["skewed"]}
    assert check_final(ev, T0 + 40).violations == []


def test_a_final_write_held_back_by_a_redis_that_was_down_is_excused_and_nothing_else(receiver):
    """The 10,000-order run: the POS answered (completed_at), Redis was down, the final write
    landed when it came back, 2.0-2.6 s later. Excused only across a Redis-down window."""
    from harness.faults import Window
    from reliability.invariants import check_completed_at

    records = {"held": order("held", completed=T0 + 5), "late": order("late", completed=T0 + 20)}
    ev = evidence(receiver, records)
    ev.windows = [Window("kill_redis_after_final", T0 + 5.5, T0 + 7.0)]
    ev.final_at = {"held": T0 + 7.6, "late": T0 + 22.6}  # both 2.6 s after the POS answered
    assert [v.split(":")[0] for v in check_completed_at(ev).violations] == ["late"]


def test_a_process_that_exited_on_its_own_is_a_violation(receiver):
    from reliability.invariants import check_processes

    ev = evidence(receiver, {})
    assert check_processes(ev).violations == []
    ev.exited = ["beat1 exited with 1: beat raised exception ConnectionError"]
    assert check_processes(ev).violations == ev.exited


def test_pos_calls_are_judged_over_the_life_on_the_stores_clock(receiver):
    # a worker with its clock 30 s behind wrote completed_at before the arrival: the window is
    # taken from the store's final transition, not from it
    records = {"dup": order("dup", completed=T0 - 30)}
    ev = evidence(receiver, records, calls={"dup": {"posts": 6, "lookups": 0}})
    ev.final_at = {"dup": T0 + 4}
    assert check_pos_calls(ev, T0 + 60).violations == []


def test_a_reset_just_after_a_link_cut_is_excused_only_for_that_host(receiver):
    """docs/CLUSTER.md finding 4: a keep-alive connection the web host closed while its link was
    down is reset when reused, until the FIN's retransmission lands. Only a reset (not a
    timeout), only to that host, only inside the window."""
    from harness.faults import Window
    from reliability.faults import STALE_CONNECTIONS
    from reliability.invariants import check_http
    from reliability.load import Call

    web1, web2 = "http://10.0.0.10:8000", "http://10.0.0.11:8000"
    windows = [Window(STALE_CONNECTIONS, T0, T0 + 4, "web1", host=web1)]
    journal = Journal()
    for uid, host, at, error in (
        ("ok", web1, T0 + 1, "ConnectionError"),
        ("other-host", web2, T0 + 1, "ConnectionError"),
        ("later", web1, T0 + 5, "ConnectionError"),
        ("timeout", web1, T0 + 1, "ReadTimeout"),
    ):
        journal.add(Call(uid, "resubmit", at, at + 0.01, None, None, error=error, host=host))
    ev = Evidence(journal, receiver, windows, {}, [], set(), settings=SETTINGS)
    _, unanswered, _ = check_http(ev)
    assert unanswered.checked == 4
    assert sorted(v.split(":")[0] for v in unanswered.violations) == ["later", "other-host", "timeout"]


def test_a_503_from_a_web_host_cut_off_mid_request_is_honest_only_for_that_host(receiver):
    """The first full cluster run: a submit reached web2 40 ms before its link went down; its
    Redis call timed out (5 s) and it answered 503 after the link was back. To that host Redis
    was away. Excused only for calls to the host that was cut, in flight when it was cut: one
    sent during the cut reaches the web after the link is back, when Redis answers."""
    from harness.faults import Window
    from reliability.faults import WEB_CUT_OFF
    from reliability.invariants import check_http
    from reliability.load import Call

    web1, web2 = "http://10.0.0.10:8000", "http://10.0.0.11:8000"
    windows = [Window(WEB_CUT_OFF, T0, T0 + 3.6, "web2", host=web2)]
    journal = Journal()
    for uid, host, started, ended, status in (
        ("cut", web2, T0 - 0.04, T0 + 5.0, 503),
        ("other-host", web1, T0 + 1, T0 + 1.1, 503),
        ("later", web2, T0 + 6, T0 + 6.1, 503),
        ("sent-mid-cut", web2, T0 + 1, T0 + 3.8, 503),
        ("a-500", web2, T0 + 1, T0 + 1.1, 500),
    ):
        journal.add(Call(uid, "submit", started, ended, status, {"errors": []}, host=host))
    ev = Evidence(journal, receiver, windows, {}, [], set(), settings=SETTINGS)
    five, _, _ = check_http(ev)
    assert five.checked == 5
    assert sorted(v.split(":")[0] for v in five.violations) == ["a-500", "later", "other-host", "sent-mid-cut"]


def test_a_placement_found_by_reconciliation_after_pos_outcome_unknown_is_the_designed_outcome(receiver):
    """The fifth 10,000-order run: lookups failed past RECONCILE_SECONDS, the order was errored
    pos_outcome_unknown, the next lookup found it (listed for on-call). Only that case."""
    from reliability.invariants import check_pos_orders

    found = order("found", "errored", codes=("pos_outcome_unknown",))
    found.reconcile = "found"
    unlisted = order("unlisted", "errored", codes=("pos_outcome_unknown",))
    expired = order("expired", "errored", codes=("deadline_exceeded",))
    expired.reconcile = "found"
    ledger = [entry("found"), entry("unlisted"), entry("expired")]
    _, none = check_pos_orders(evidence(receiver, {"found": found, "unlisted": unlisted, "expired": expired}, ledger))
    judged = [v.split(":")[0] for v in none.violations if "but the POS has" in v]  # (the journal plans none)
    assert sorted(judged) == ["expired", "unlisted"]
