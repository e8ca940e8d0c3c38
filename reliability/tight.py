"""The invariants issue 10 tightened: no POS order created after its deadline, no callback
delivered twice automatically, no order pending past deadline + RECONCILE_SECONDS (+ slack),
POS calls per order within the backoff's bound; and two the engine v2 runs showed were needed:
completed_at on the store's clock, no process of the stack exiting on its own."""

from __future__ import annotations

from harness.faults import Window
from harness.report import Check
from reliability.bounds import pos_call_bound
from reliability.evidence import ROUNDING, Evidence, codes, epoch
from reliability.faults import REDIS_DOWN

HELD = ("freeze_web", *REDIS_DOWN)  # faults that hold a final write back after the POS answered


def check_final(ev: Evidence, now: float) -> Check:
    """No order pending past deadline + RECONCILE_SECONDS + slack: not now, and none that
    became final later than that (its completed_at)."""
    check = Check("no order pending past deadline + RECONCILE_SECONDS (+ slack)")
    for uid, order in ev.records.items():
        if order is None:
            continue
        check.checked += 1
        bound = ev.reconcile_bound(uid, order)
        deadline = ev.deadline(uid, order)
        if not order.final:
            if now > bound:
                check.fail(f"{uid}: still {order.status} {now - deadline:.1f}s past its deadline")
            continue
        completed = ev.final_at.get(uid) or epoch(order.doc.get("completed_at"))
        if completed > bound:
            check.fail(
                f"{uid}: {order.status} only {completed - deadline:.1f}s past its deadline "
                f"(bound +{bound - deadline:.1f}s)"
            )
    return check


def check_created_in_time(ev: Evidence) -> Check:
    """No POS order created after its deadline (the ledger's created_at, the POS's clock) where
    the POS honours not_after (elsewhere a late one is voided or listed: reliability.late), and
    none sent with a not_after later than the order's deadline, anywhere."""
    check = Check(
        "no POS order created after its deadline where the POS honours not_after (ledger created_at; "
        "not_after = the deadline)"
    )
    for entry in ev.ledger:
        order = ev.records.get(entry["external_id"])
        if order is None:
            continue
        check.checked += 1
        deadline = ev.deadline(order.uid, order)
        created = epoch(entry["created_at"])
        not_after = epoch(entry.get("not_after")) if entry.get("not_after") else None
        if created > deadline + ROUNDING and entry.get("location_id") not in ev.late_locations:
            check.fail(
                f"{order.uid}: POS order {entry['pos_order_id']} created {created - deadline:.3f}s after "
                f"the deadline (not_after {entry.get('not_after')})"
            )
        elif not_after is not None and not_after > deadline + ROUNDING:
            check.fail(
                f"{order.uid}: sent with not_after {entry['not_after']}, {not_after - deadline:.3f}s after its deadline"
            )
    return check


def check_completed_at(ev: Evidence) -> Check:
    """The completed_at an answer shows is when the order became final on the store's clock
    (within CLOCK_SKEW_SECONDS + 1 s), whichever host's clock wrote it. completed_at records the
    POS's answer; a writer that could not write it at once is excused: a web process frozen
    (SIGSTOP) between the answer and its write, or any writer waiting for a Redis that was down
    (its final write retried until the store came back)."""
    allowance = ev.setting("CLOCK_SKEW_SECONDS") + 1.0
    check = Check(f"completed_at on the store's clock (within {allowance:g}s of the final transition)")
    for uid, at in ev.final_at.items():
        order = ev.records.get(uid)
        completed = epoch(order.doc.get("completed_at")) if order is not None else 0.0
        if order is None or not completed:
            continue
        check.checked += 1
        held = any(w.kind in HELD and w.start <= max(completed, at) and min(completed, at) <= w.end for w in ev.windows)
        if abs(completed - at) > allowance and not held:
            check.fail(
                f"{uid}: completed_at {order.doc['completed_at']} is {completed - at:+.1f}s from the "
                f"store's final transition"
            )
    return check


def check_processes(ev: Evidence) -> Check:
    """No process of the stack exited on its own (the injector's kills are restarted)."""
    check = Check("every process of the stack still running (none exited on its own)", checked=1)
    check.violations.extend(ev.exited)
    return check


SENDER_WINDOW = 10.0  # a callback POST takes at most this long (app/callbacks.py TIMEOUT, and then some)


def _kill_at_latest(window: Window) -> float:
    """The latest moment the window's fault can have cut a callback's sender; -inf for a fault
    that cuts none. kill_worker and worker_cut cut at their start; kill_mover SIGKILLs the worker
    whose archive mover holds the lock, at a moment inside its window (it waits for a run)."""
    if window.kind in ("kill_worker", *SENDER_CUT):
        return window.start
    if window.kind == "kill_mover":
        return window.end
    return float("-inf")


def sender_killed(ev: Evidence, delivered_at: float, after: list) -> bool:
    """The delivery the receiver answered 2xx came just before a worker was killed (SIGKILL), or
    its host cut off from Redis (the cluster's worker_cut): its sender could not record the
    answer, so the next mover sent it once more, the one resend the engine allows
    (docs/ENGINE.md, Callbacks). One resend only, and with the same Idempotency-Key."""
    killed = any(w.start - SENDER_WINDOW <= delivered_at <= _kill_at_latest(w) + 0.5 for w in ev.windows)
    return killed and len(after) == 1 and after[0].key == f"{after[0].uid}:{after[0].status}"


def check_callbacks_once(ev: Evidence) -> Check:
    """At most one automatic delivery per final state: none after one the receiver answered 2xx."""
    check = Check("no callback delivered twice automatically (receiver's count per request_uid)")
    for uid, count in sorted(ev.receiver.counts().items()):
        check.checked += 1
        deliveries = sorted(ev.receiver.for_uid(uid), key=lambda d: d.at)
        first_ok = next((n for n, d in enumerate(deliveries) if d.answered < 300), None)
        if (
            first_ok is not None
            and first_ok + 1 < len(deliveries)
            and not sender_killed(ev, deliveries[first_ok].at, deliveries[first_ok + 1 :])
        ):
            check.fail(
                f"{uid}: {count} deliveries, {len(deliveries) - first_ok - 1} after the one answered "
                f"{deliveries[first_ok].answered}"
            )
    return check


OVERLAP_SLACK = 0.25  # the receiver sees a sender hang up (its FIN wakes it) this late at most, loaded
DELIVERY_SLACK = 1.0  # a delivery's span as the receiver sees it, beyond CALLBACK_TIMEOUT_SECONDS
# the cluster's worker host cut off: its sender's hang-up (FIN) reaches the receiver only once the
# link is back, so a delivery in flight across a cut looks longer than it was
SENDER_CUT = ("worker_cut",)


def check_callbacks_apart(ev: Evidence) -> Check:
    """No delivery of a callback begins while another of the same callback is still in its call
    (the receiver's spans, from arrival to its answer or the sender hanging up), and none lasts
    longer than CALLBACK_TIMEOUT_SECONDS: a trickling receiver holds the sender no longer."""
    bound = ev.setting("CALLBACK_TIMEOUT_SECONDS") + DELIVERY_SLACK
    check = Check(
        f"no two deliveries of one callback at once; none longer than CALLBACK_TIMEOUT_SECONDS (+{DELIVERY_SLACK:g}s)"
    )
    for uid in sorted(ev.receiver.counts()):
        check.checked += 1
        busy_until = 0.0
        for delivery in sorted(ev.receiver.for_uid(uid), key=lambda d: d.at):
            if any(w.kind in SENDER_CUT and w.start <= delivery.end and delivery.at <= w.end for w in ev.windows):
                continue  # its span is the cut's, not the sender's
            if delivery.at < busy_until - OVERLAP_SLACK:
                check.fail(f"{uid}: a delivery began {busy_until - delivery.at:.2f}s before the one before it ended")
            if delivery.end - delivery.at > bound:
                check.fail(f"{uid}: a delivery lasted {delivery.end - delivery.at:.1f}s (bound {bound:g}s)")
            busy_until = max(busy_until, delivery.end)
    return check


def check_pos_calls(ev: Evidence, now: float) -> Check:
    """POS calls (POSTs and lookups) per order within the backoff's bound over its life (from
    its arrival to its final state, or to now while it is open or its outcome unknown): the
    bound holds for any window, so for every outage inside it."""
    base, cap = ev.setting("RETRY_BASE_SECONDS"), ev.setting("RETRY_CAP_SECONDS")
    check = Check(f"POS calls per order within the backoff bound (base {base:g}s, cap {cap:g}s)")
    for uid, order in ev.records.items():
        calls = ev.pos_calls.get(uid)
        if order is None or not calls:
            continue
        check.checked += 1
        total = calls.get("posts", 0) + calls.get("lookups", 0)
        unknown = "pos_outcome_unknown" in codes(order)
        final = ev.final_at.get(uid) or epoch(order.doc.get("completed_at"))  # the store's clock first
        end = final if order.final and not unknown else now
        seconds = max(end, ev.arrival(uid, order)) - ev.arrival(uid, order)
        bound = pos_call_bound(seconds, base, cap)
        if total > bound:
            check.fail(
                f"{uid}: {total} POS calls ({calls.get('posts', 0)} POSTs, {calls.get('lookups', 0)} "
                f"lookups) in {seconds:.1f}s, bound {bound:.1f}"
            )
    return check
