"""Cancels at random moments (issue 19; posnext-api.md "Cancel"): the `cancel` scenario and the
invariants it adds.

The scenario submits an order (one in three with a callback_url on the receiver) and, a random
0-3 s after the submit was sent (half of them within 0.3 s, inside the inline budget), cancels
it with PAR's JWT, whether or not the submit has been answered: while the POS track has the POS
slow (slow_above_budget, slow_beyond_read, pos_hang, pos_late), the web's or a worker's POST is
at the POS when the cancel comes, and the service must void by key (or, for a POS without void
by key, watch and void what it makes). A cancel that gets no answer or a 503 is sent again, as
PAR would retry it; one answered 404 because the submit was not recorded yet is sent again once
the submit is answered; one in four is sent a second time later (idempotent: the same record).

Invariants, once settled:
  - `cancelled` => no live (not voided) POS order for that request_uid (on a POS that cannot
    close a key and refuses the void of what it made after the cancel: listed for on-call,
    cancel_kept);
  - no POST reached the POS after the cancel was recorded: the simulator's last POST for the
    external_id (received time) not later than the record's cancel_requested_at (a cancel
    recorded while a POST may have reached the POS) or, for one cancelled at once, its final
    transition, + TRANSIT;
  - a cancel answered 409 is for an order final in another status (code not_cancellable), and
    every cancel answered 200/202 shows the record's outcome (cancelled, placed when the POS
    would not void it, or pending with cancel_requested_at).
`placed` => exactly one live POS order, the one named, holds for cancels the POS refused too:
that is check_pos_orders (reliability.invariants), over every placed order.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

from harness.report import Check
from reliability.evidence import Evidence, epoch
from reliability.orders import FINAL, Planned, valid, with_callback

KIND = "cancel"
SHARE = 0.10  # of the scenarios drawn
DELAY = (0.0, 3.0)  # seconds from the submit sent to the cancel sent (half of them under 0.3 s)
TRANSIT = 0.25  # a POST sent before the cancel was recorded may reach the POS this much later (loopback, loaded)
RESEND_TRIES = 8


def plan(rng: random.Random, callback_base: str) -> Planned | None:
    """A cancel scenario SHARE of the time, else None (the harness's other scenarios)."""
    if rng.random() >= SHARE:
        return None
    ttl = rng.choice((None, None, 4, 6, 9, 12))
    if rng.random() < 1 / 3:
        return with_callback(rng, callback_base, KIND, "ok", ttl)
    body = valid(rng, KIND, ttl)
    return Planned(body["request_uid"], KIND, "accepted", body)


def send_cancel(client, uid: str, reason: str):
    """One POST /posnext/orders/{uid}/cancel, journalled as a Call of kind `cancel`."""
    from reliability.load import Call

    started, base = time.time(), client.base_url
    call = Call(uid, KIND, started, started, None, None, host=base)
    return client.journalled(
        call,
        lambda: client.session().post(
            f"{base}/posnext/orders/{uid}/cancel",
            json={"reason": reason},
            timeout=30,
            headers={"Authorization": f"Bearer {client.token}"},
        ),
    )


def resend_cancel(client, uid: str, reason: str, rng: random.Random):
    from reliability.load import answered

    call = send_cancel(client, uid, reason)
    for _ in range(RESEND_TRIES):
        if answered(call):
            break
        time.sleep(rng.uniform(0.5, 1.5))
        call = send_cancel(client, uid, reason)
    return call


def run(scenarios, planned: Planned, rng: random.Random) -> None:
    """Submit (resent as PAR would) in a thread of its own; cancel 0-3 s after it was sent."""
    submits: list = []
    thread = threading.Thread(
        target=lambda: submits.append(scenarios.resend(planned, planned.body, "submit", rng)), daemon=True
    )
    thread.start()
    # half of them inside the inline budget, where the web's own POST is the one in flight
    time.sleep(rng.uniform(DELAY[0], 0.3) if rng.random() < 0.5 else rng.uniform(*DELAY))
    call = resend_cancel(scenarios.client, planned.uid, "the guest cancelled", rng)
    thread.join(120)
    if call.status == 404 and submits and submits[0].status in (200, 202):  # it was not recorded yet
        call = resend_cancel(scenarios.client, planned.uid, "the guest cancelled", rng)
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.5, 3))
        resend_cancel(scenarios.client, planned.uid, "the guest cancelled again", rng)


def _recorded_at(ev: Evidence, uid: str, order) -> float | None:
    """When the cancel was recorded (store's clock): cancel_requested_at, else, for an order
    cancelled at once, its final transition; None when no cancel was recorded."""
    requested = getattr(order, "cancel_requested_at", None)  # hand-made evidence may have none
    if requested is not None:
        return float(requested)
    if order.status == "cancelled":
        return ev.final_at.get(uid) or epoch(order.doc.get("completed_at"))
    return None


def check_cancels(ev: Evidence) -> tuple[list[Check], dict]:
    none_live = Check("cancelled: no live (not voided) POS order for that request_uid")
    no_post = Check(f"no POST reached the POS after the cancel was recorded (+{int(TRANSIT * 1000)} ms transit)")
    answers = Check("cancel answers: 409 only for another final (not_cancellable); 200/202 show the record's outcome")
    stats: Counter = Counter()
    for uid, order in ev.records.items():
        if order is None:
            continue
        recorded = _recorded_at(ev, uid, order)
        if order.status == "cancelled":
            none_live.checked += 1
            live = [e["pos_order_id"] for e in ev.live(uid)]
            if live and cancel_kept(ev, uid, order):
                stats["cancelled; a POS order made after it, not voidable: listed for on-call"] += 1
            elif live:
                none_live.fail(f"{uid}: cancelled, but the POS has {live} live")
        if recorded is None:
            continue
        no_post.checked += 1
        last = (ev.pos_calls.get(uid) or {}).get("last_post_at")
        if last and epoch(last) > recorded + TRANSIT:
            no_post.fail(
                f"{uid}: {order.status}, a POST reached the POS {epoch(last) - recorded:.3f}s after "
                "the cancel was recorded"
            )
        stats[_path(order)] += 1
    for uid, planned in ev.journal.planned.items():
        order = ev.records.get(uid)
        for call in ev.journal.calls_for(uid):
            if call.kind != KIND or call.status is None:
                continue
            answers.checked += 1
            stats[f"answered {call.status}"] += 1
            body = call.body if isinstance(call.body, dict) else {}
            shown = body.get("status")
            if call.status == 409:
                error_codes = [e.get("code") for e in body.get("errors") or []]
                if (
                    order is None
                    or order.status not in FINAL
                    or order.status == "cancelled"
                    or error_codes != ["not_cancellable"]
                ):
                    answers.fail(f"{uid}: cancel answered 409 {error_codes}, record {order.status if order else None}")
            elif call.status == 200 and (order is None or shown != order.status):
                answers.fail(f"{uid}: cancel answered 200 {shown}, record {order.status if order else None}")
            elif call.status == 202 and (shown != "pending" or not body.get("cancel_requested_at")):
                answers.fail(f"{uid}: cancel answered 202 {shown} without cancel_requested_at")
            if planned.kind == KIND and call.started < _submit_answered(ev, uid):
                stats["sent while the submit was in flight"] += 1
    return [none_live, no_post, answers], dict(sorted(stats.items()))


def cancel_kept(ev: Evidence, uid: str, order) -> bool:
    """A POS that cannot close a key (Square: voids by its own order id, --adapter square) may
    still create the order of a POST in flight after the cancel was decided `cancelled`; the
    engine watches it and voids what it makes, and when the POS refuses that void too
    (not_voidable) it lists the order for on-call: the one live POS order a cancelled order may
    keep, on such a POS only, made after the cancel was recorded and listed."""
    recorded = _recorded_at(ev, uid, order)
    return (
        ev.settings.get("POS_ADAPTER", "rest") != "rest"
        and recorded is not None
        and uid in ev.found
        and all(epoch(e["created_at"]) > recorded for e in ev.live(uid))
    )


def _path(order) -> str:
    if getattr(order, "cancel_requested_at", None) is None:
        return "cancelled at once (no POST sent)"
    if order.status == "cancelled":
        return "cancelled by a void (a POST may have reached the POS)"
    return f"{order.status} after the cancel was recorded (the POS would not void it)"


def _submit_answered(ev: Evidence, uid: str) -> float:
    """When the scenario's first submit was answered (or gave up); 0 when none was sent."""
    submits = [c for c in ev.journal.calls_for(uid) if c.kind == "submit"]
    return min((c.ended for c in submits), default=0.0)
