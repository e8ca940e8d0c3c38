"""The invariants, checked once the system has settled past every deadline.

Evidence: the harness's journal (every scenario and every answer), the callback receiver,
the fault windows, the order store (Redis), the simulator's ledger (orders with created_at and
not_after; calls per external_id) and the stack's settings. Each check counts what it looked
at and lists every violation; the run is green when none has any.

The tight ones (issue 10): no POS order created after its deadline; no callback delivered
twice automatically; no order pending past deadline + RECONCILE_SECONDS (+ a stated slack);
POS calls per order within the backoff's bound (reliability.bounds). Issue 18's: every 202
owes a callback; no two deliveries of one callback at once; late placements voided or listed
(reliability.late), and "created after its deadline" judged only where the POS honours not_after.
"""

from __future__ import annotations

from app import jsonio
from app.orders.order import fingerprint
from harness.faults import Window
from harness.report import Check
from reliability.cancels import cancel_kept, check_cancels
from reliability.evidence import DEFAULTS, OUTAGE, ROUNDING, Evidence, codes, epoch
from reliability.faults import STALE_CONNECTIONS, UNAVAILABLE, WEB_AWAY, WEB_CUT_OFF
from reliability.late import check_late_placements
from reliability.load import Call
from reliability.orders import FINAL
from reliability.tight import (
    check_callbacks_apart,
    check_callbacks_once,
    check_completed_at,
    check_created_in_time,
    check_final,
    check_pos_calls,
    check_processes,
)
from schemas.orders import OrderRequestSchema

REDIS_MARGIN = 1.0  # a request may see the store come back a moment after the restart
TRANSIT = 0.25  # a POST sent before the deadline may reach the POS this much later (loopback, loaded)
_schema = OrderRequestSchema()
__all__ = [
    "DEFAULTS",
    "FINAL",
    "OUTAGE",
    "ROUNDING",
    "Check",
    "Evidence",
    "check_all",
    "check_callbacks_apart",
    "check_callbacks_once",
    "check_completed_at",
    "check_created_in_time",
    "check_final",
    "check_late_placements",
    "check_pos_calls",
    "check_processes",
]


def payload_fp(body: dict) -> str:
    return fingerprint(_schema.load(jsonio.loads(jsonio.dumps(body))))


def _overlaps(call: Call, windows: list[Window], kinds: tuple[str, ...], margin: float) -> bool:
    return any(w.kind in kinds and call.started <= w.end + margin and call.ended >= w.start for w in windows)


def check_recorded(ev: Evidence) -> Check:
    """An order answered 200/202 (or polled) exists; one refused with a 4xx or only validated does not."""
    check = Check("accepted orders recorded; 4xx-refused and validate-only never")
    for uid, planned in ev.journal.planned.items():
        calls = ev.journal.calls_for(uid)
        check.checked += 1
        order = ev.records.get(uid)
        if planned.expect in ("refused", "validated"):
            if order is not None:
                check.fail(f"{uid}: {planned.expect} request left a record ({order.status})")
            continue
        if any(c.status in (200, 202) and c.kind != "poll" for c in calls) and order is None:
            check.fail(f"{uid}: answered 2xx but no record")
        if any(c.kind == "poll" and c.status == 404 for c in calls) and order is not None:
            check.fail(f"{uid}: polling answered 404 for an order that exists")
    return check


def check_pos_orders(ev: Evidence) -> tuple[Check, Check]:
    """Only live POS orders count: one the engine voided (a late placement) is no order."""
    one = Check("exactly one live (not voided) POS order per placed order, same pos_order_id")
    none = Check(
        "no live POS order for rejected, errored or unrecorded orders (but one found by reconciliation, "
        "or made late, not voidable and listed)"
    )
    known = set(ev.journal.planned)
    for uid, order in ev.records.items():
        if order is None:
            continue
        entries = ev.live(uid)
        if order.status == "placed":
            one.checked += 1
            pos_id = order.doc["order_details"].get("pos_order_id")
            if len(entries) != 1 or entries[0]["pos_order_id"] != pos_id:
                one.fail(f"{uid}: placed as {pos_id}, live at the POS: {[e['pos_order_id'] for e in entries]}")
        else:
            none.checked += 1
            # posnext-api.md, bounded reconciliation: errored/pos_outcome_unknown after
            # RECONCILE_SECONDS, lookups go on, and a placement found later is listed for on-call
            found_later = (
                order.status == "errored"
                and "pos_outcome_unknown" in codes(order)
                and order.reconcile == "found"
                and len(entries) == 1
            )
            # a placement made after the deadline whose void the POS refused: listed for on-call
            late_kept = (
                order.reconcile == "found"
                and uid in ev.found
                and all(epoch(e["created_at"]) > ev.deadline(uid, order) + ROUNDING for e in entries)
            )
            if entries and not (found_later or late_kept or cancel_kept(ev, uid, order)):
                none.fail(
                    f"{uid}: {order.status} ({codes(order)}) but the POS has "
                    f"{[e['pos_order_id'] for e in entries]} live"
                )
    for entry in ev.ledger:
        if entry["external_id"] not in known or ev.records.get(entry["external_id"]) is None:
            none.checked += 1
            none.fail(f"{entry['external_id']}: POS order {entry['pos_order_id']} for no recorded order")
    return one, none


def check_deadlines(ev: Evidence) -> tuple[Check, dict]:
    """No POS order received after its order's deadline (+ transit)."""
    check = Check(f"no POST that made an order reached the POS after its deadline (+{int(TRANSIT * 1000)} ms transit)")
    after, unbounded, latest = 0, 0, None  # created after the deadline, sent without not_after, ms
    for entry in ev.ledger:
        order = ev.records.get(entry["external_id"])
        if order is None:
            continue
        check.checked += 1
        deadline = ev.deadline(order.uid, order)
        late = epoch(entry["received_at"]) - deadline
        if latest is None or late * 1000 > latest:
            latest = round(late * 1000)
        if late > TRANSIT:
            check.fail(f"{order.uid}: POS received the POST {late:.3f}s after the deadline")
        if epoch(entry["created_at"]) > deadline + ROUNDING:
            after += 1
        if entry.get("not_after") is None:
            unbounded += 1
    stats = {
        "created_after_deadline": after,
        "max_received_lateness_ms": latest,
        "orders_sent_without_not_after": unbounded,
    }
    return check, stats


def check_callbacks(ev: Evidence) -> Check:
    """A callback is owed once final by an order PAR got a 202 for, from any path (the journal:
    a submit's hand-off, a duplicate that waited, a resubmit of a pending order, store trouble
    after it was recorded), and by one whose final a worker wrote; each owed one is delivered
    (the receiver answered 2xx) or kept for replay (callbacks:dead). Polls promise nothing."""
    check = Check(
        "every callback owed (a 202 answered, or a worker's final) delivered or kept for replay; "
        "each signed, with the final status"
    )
    promised = {c.uid for c in ev.journal.calls if c.status == 202 and c.kind != "poll"}
    for uid, order in ev.records.items():
        if order is None or not order.doc.get("callback_url"):
            continue
        deliveries = ev.receiver.for_uid(uid)
        for delivery in deliveries:
            if not delivery.digest_ok or delivery.status != order.status:
                check.fail(
                    f"{uid}: callback with status {delivery.status} (record {order.status}), "
                    f"digest ok={delivery.digest_ok}"
                )
        why = "answered 202" if uid in promised else "final by a worker" if ev.final_by.get(uid) == "worker" else ""
        if not (order.final and why):
            continue
        check.checked += 1
        delivered = any(d.answered < 300 for d in deliveries)
        if not delivered and uid not in ev.dead_callbacks:
            state = _callback_state(order.callback)
            check.fail(
                f"{uid}: {order.status} ({why}), callback neither delivered nor kept ({state}, "
                f"{len(deliveries)} deliveries)"
            )
    return check


def stale_reset(call: Call, windows: list[Window]) -> bool:
    """A reset (no answer, no timeout) on a connection to a host just back from a link cut."""
    return call.error == "ConnectionError" and any(
        w.kind == STALE_CONNECTIONS and w.host == call.host and w.start <= call.started <= w.end for w in windows
    )


CUT_LAG = 0.25  # `ip netns exec ... ip link set down` lands this long after the window's start


def cut_off(call: Call, windows: list[Window]) -> bool:
    """A call already in flight to a web host when its link (to Redis too) went down. One sent
    during the cut reaches the web only once the link is back, when Redis answers again: a 503
    to it would be a recovery bug, not excused."""
    return any(
        w.kind == WEB_CUT_OFF and w.host == call.host and call.started <= w.start + CUT_LAG and call.ended >= w.start
        for w in windows
    )


def check_http(ev: Evidence) -> tuple[Check, Check, Check]:
    five = Check("no 5xx but 503 while Redis was down (or the web frozen)")
    unanswered = Check("every request answered, but while the web process was down")
    signed = Check("200/202 answers signed (x-pch-digest) and agreeing with the body's status; errors unsigned")
    for call in ev.journal.calls:
        five.checked += 1
        unanswered.checked += 1
        if (
            call.status is not None
            and call.status >= 500
            and (
                call.status != 503
                or not (_overlaps(call, ev.windows, UNAVAILABLE, REDIS_MARGIN) or cut_off(call, ev.windows))
            )
        ):
            five.fail(f"{call.uid}: HTTP {call.status} on {call.kind} at {call.started:.3f}: {_errors(call.body)}")
        if call.status is None and not _overlaps(call, ev.windows, WEB_AWAY, 0.5) and not stale_reset(call, ev.windows):
            unanswered.fail(f"{call.uid}: {call.kind} got no answer ({call.error}) at {call.started:.3f}")
        if call.status is None or call.kind == "poll":
            continue
        signed.checked += 1
        status = (call.body or {}).get("status") if isinstance(call.body, dict) else None
        if call.status >= 400:  # posnext-api.md: no signature over what was not verified or decided
            if call.digest_present:
                signed.fail(f"{call.uid}: HTTP {call.status} carries an x-pch-digest")
            continue
        if not call.digest_ok:
            signed.fail(f"{call.uid}: HTTP {call.status} without a valid x-pch-digest")
        elif call.status == 202 and status != "pending":
            signed.fail(f"{call.uid}: 202 with status {status}")
        elif call.status == 200 and status not in (*FINAL, "validated"):
            signed.fail(f"{call.uid}: 200 with status {status}")
    return five, unanswered, signed


def check_idempotency(ev: Evidence) -> Check:
    """The record holds the payload every 2xx answered and none a 409 answered; answers that
    showed a final state show the record's."""
    check = Check("resubmits: one record per request_uid, 409 changed nothing, answers never contradict it")
    for uid, planned in ev.journal.planned.items():
        order = ev.records.get(uid)
        if order is None or planned.expect not in ("accepted", "rejected"):
            continue
        fps = {"original": payload_fp(planned.body)}
        if planned.changed:
            fps["changed"] = payload_fp(planned.changed)
        for call in ev.journal.calls_for(uid):
            check.checked += 1
            body = call.body if isinstance(call.body, dict) else {}
            if call.kind != "poll" and call.status in (200, 202) and fps[call.payload] != order.fp:
                check.fail(f"{uid}: the {call.payload} payload was answered {call.status} but another is recorded")
            if call.status == 409 and call.kind != "cancel" and fps[call.payload] == order.fp:
                check.fail(f"{uid}: 409 for the payload that is recorded")
            shown = body.get("status")
            if call.status in (200, 202) and shown in FINAL and shown != order.status:
                check.fail(f"{uid}: answered {shown} once, record is {order.status}")
            shown_id = (body.get("order_details") or {}).get("pos_order_id") if shown == "placed" else None
            if shown_id and shown_id != order.doc["order_details"].get("pos_order_id"):
                check.fail(f"{uid}: answered pos_order_id {shown_id}, record has another")
        entries = ev.ledger_for(uid)
        if entries and entries[0]["total"] != jsonio.money_to_cents(order.doc["order_details"]["grand_total"]):
            check.fail(f"{uid}: the POS order's total is not the recorded payload's")
    return check


def check_rules(ev: Evidence) -> Check:
    check = Check("orders the rules refuse are rejected, never at the POS")
    for uid, planned in ev.journal.planned.items():
        order = ev.records.get(uid)
        if planned.expect != "rejected" or order is None:
            continue
        check.checked += 1
        if order.status != "rejected" or ev.ledger_for(uid):
            check.fail(f"{uid}: {order.status} ({codes(order)}), {len(ev.ledger_for(uid))} POS orders")
    return check


def check_all(ev: Evidence, now: float) -> tuple[list[Check], dict]:
    one, none = check_pos_orders(ev)
    deadline_check, stats = check_deadlines(ev)
    late, stats["late_placements"] = check_late_placements(ev)
    five, unanswered, signed = check_http(ev)
    checks = [
        check_final(ev, now),
        check_recorded(ev),
        one,
        none,
        deadline_check,
        check_created_in_time(ev),
        late,
        check_callbacks(ev),
        check_callbacks_once(ev),
        check_callbacks_apart(ev),
        check_pos_calls(ev, now),
        five,
        unanswered,
        signed,
        check_idempotency(ev),
        check_rules(ev),
        check_completed_at(ev),
        check_processes(ev),
    ]
    cancel_checks, stats["cancels"] = check_cancels(ev)
    checks[4:4] = cancel_checks  # after the POS-order checks
    return checks, stats


def _callback_state(callback) -> str:
    """The record's callback state, whether the store keeps it as a dict or as its name."""
    if isinstance(callback, dict):
        return callback.get("state", "never tried")
    return str(callback or "never tried")


def _errors(body) -> str:
    if isinstance(body, dict):
        return ",".join(e.get("code", "?") for e in body.get("errors") or [])
    return "-"
