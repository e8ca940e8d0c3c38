"""An order for a person: its record's facts, who holds it, and its history as a timeline
(who, when, why), with the POS calls and the failures marked. Reads what `posbridge orders
show` reads (app/cli/orders.py, app/order_reads.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.order_reads import claim_until
from app.orders.lifecycle import Status
from app.orders.order import Order
from app.times import format_time

FAILED = frozenset({Status.ERRORED.value, Status.REJECTED.value})
BASE_KEYS = ("at", "status", "by", "note")
# notes the engine writes (app/orders/decide.py, moves.py, scripts.py), by what they tell
POS_NOTES = (
    "POS attempt",
    "POS refused",
    "lookup failed",
    "found at the POS",
    "a POS order made",
    "placed",
    "voided",
    "a late placement",
)
FAILURE_NOTES = (
    "POS attempt",
    "POS refused",
    "lookup failed",
    "callback retry",
    "callback dead",
    "refused",
    "deadline_exceeded",
    "pos_outcome_unknown",
    "menu_unavailable",
    "a late placement",
)
LATENCY_KEYS = {"latency_ms": " ms", "elapsed_ms": " ms", "latency_s": " s", "latency": ""}  # shown if carried


def when(at) -> str:
    try:
        return format_time(float(at)) if at else "-"
    except (TypeError, ValueError, OverflowError):
        return str(at)


@dataclass
class Entry:
    at: str
    status: str
    by: str
    note: str
    kind: str  # pos, callback, reconcile, action (on-call's), engine
    failed: bool
    latency: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # any other field an entry carries


def entry(raw: dict) -> Entry:
    note, by = str(raw.get("note", "")), str(raw.get("by", "-"))
    extra = {str(k): str(v) for k, v in raw.items() if k not in BASE_KEYS}
    latency = next((extra.pop(k) + unit for k, unit in LATENCY_KEYS.items() if k in extra), "")
    if by.startswith(("console:", "cli/")):
        kind = "action"
    elif note.startswith(POS_NOTES) or "outcome" in extra:
        kind = "pos"
    elif note.startswith("callback"):
        kind = "callback"
    elif note.startswith("reconcile"):
        kind = "reconcile"
    else:
        kind = "engine"
    failed = note.startswith(FAILURE_NOTES) or extra.get("outcome", "ok") not in ("ok", "placed", "found")
    return Entry(when(raw.get("at")), str(raw.get("status", "-")), by, note, kind, failed, latency, extra)


@dataclass
class View:
    """What the order page shows."""

    order: Order
    errors: list[dict]
    facts: list[tuple[str, str]]
    claim: str
    entries: list[Entry]
    can_redrive: bool
    can_replay: bool


def claim_text(store, uid: str, history: list[dict]) -> str:
    until = claim_until(store, uid)
    if not until:
        return "none (nobody is moving it)"
    holder, left = store.field(uid, "o_claim")[:8], until - store.now()
    state = f"lapses in {left:.1f} s" if left > 0 else f"lapsed {-left:.1f} s ago"
    taken_by = next((str(h["by"]) for h in reversed(history) if h.get("by")), "-")
    return f"held by {holder} until {when(until)} ({state}; taken by {taken_by})"


def view(store, order: Order) -> View:
    uid = order.uid
    history = store.history(uid)
    next_move = store.next_move(uid)
    details = order.doc.get("order_details") or {}
    facts = [
        ("location", str(order.doc.get("location_id", "-"))),
        ("created", when(order.created)),
        ("deadline", when(order.deadline)),
        ("path", order.path),
        ("POS calls", str(order.calls)),
        ("validated", "yes" if order.validated else "no"),
        ("next move", when(next_move) if next_move else "-"),
        ("POS order id", str(details.get("pos_order_id") or "-")),
    ]
    if order.doc.get("callback_url") or order.callback:
        facts += [
            ("callback", f"{order.callback or '-'}, {order.callback_attempts} attempt(s)"),
            ("callback last result", store.field(uid, "cb_result") or "-"),
        ]
        if order.callback_by:
            facts.append(("callback replayed by", order.callback_by))
    if order.reconcile:
        found = store.field(uid, "rc_pos_order_id")
        facts.append(("reconcile", order.reconcile + (f" (at the POS as {found})" if found else "")))
    errors = [e for e in order.doc.get("errors") or [] if isinstance(e, dict)]
    can_replay = order.final and bool(order.doc.get("callback_url"))
    return View(
        order,
        errors,
        facts,
        claim_text(store, uid, history),
        [entry(h) for h in history],
        can_redrive=not order.final,
        can_replay=can_replay,
    )
