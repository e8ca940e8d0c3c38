"""The invariants, checked once the system has settled past every deadline.

Evidence: the harness's journal (every scenario and every answer), the callback receiver,
the fault windows, the order store (Redis), the simulator's ledger (orders with created_at and
not_after; calls per external_id) and the stack's settings. Each check counts what it looked
at and lists every violation; the run is green when none has any.

The tight ones (issue 10): no POS order created after its deadline; no callback delivered
twice automatically; no order pending past deadline + RECONCILE_SECONDS (+ a stated slack);
POS calls per order within the backoff's bound (reliability.bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app import jsonio
from app.orders.records import fingerprint
from app.orders.store import Order
from app.times import parse_time
from reliability.bounds import pos_call_bound, reconcile_slack
from reliability.faults import UNAVAILABLE, WEB_AWAY, Window
from reliability.load import Call, Journal
from reliability.receiver import Receiver
from schemas.orders import OrderRequestSchema

FINAL = ("placed", "errored", "rejected", "cancelled")
REDIS_MARGIN = 1.0  # a request may see the store come back a moment after the restart
TRANSIT = 0.25  # a POST sent before the deadline may reach the POS this much later (loopback, loaded)
ROUNDING = 0.001  # the ledger's times (and not_after) are to the millisecond
OUTAGE = 5.0  # the longest the injector keeps Redis away (stopped up to 4 s, then its restart): no write then
DEFAULTS = {"RECONCILE_SECONDS": "900", "CLOCK_SKEW_SECONDS": "1.0", "SWEEP_SECONDS": "2", "POS_CONNECT_TIMEOUT": "2",
            "POS_READ_TIMEOUT": "10", "RETRY_BASE_SECONDS": "0.5", "RETRY_CAP_SECONDS": "30",
            "ORDER_MAX_ASYNC_SECONDS": "900"}  # the engine's defaults, for evidence that names no settings
_schema = OrderRequestSchema()


@dataclass
class Check:
    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)


@dataclass
class Evidence:
    journal: Journal
    receiver: Receiver
    windows: list[Window]
    records: dict[str, Order | None]
    ledger: list[dict]
    dead_callbacks: set[str]
    pos_calls: dict[str, dict] = field(default_factory=dict)  # external_id -> {"posts": n, "lookups": n}
    settings: dict[str, str] = field(default_factory=dict)  # the stack's settings (DEFAULTS for those not given)
    final_at: dict[str, float] = field(default_factory=dict)  # uid -> when it became final (store's clock)
    exited: list[str] = field(default_factory=list)  # processes that exited on their own during the run

    def ledger_for(self, uid: str) -> list[dict]:
        if not hasattr(self, "_by_uid"):
            self._by_uid: dict[str, list[dict]] = {}
            for entry in self.ledger:
                self._by_uid.setdefault(entry["external_id"], []).append(entry)
        return self._by_uid.get(uid, [])

    def setting(self, name: str) -> float:
        return float(self.settings.get(name, DEFAULTS[name]))

    def arrival(self, uid: str, order: Order) -> float:
        """When the order arrived: the record's, else the first call the harness made for it."""
        created = getattr(order, "created", None)
        if created:
            return float(created)
        calls = self.journal.calls_for(uid)
        return min((c.started for c in calls), default=0.0)

    def deadline(self, uid: str, order: Order) -> float:
        """The order's deadline: the record's, else request_datetime + ttl, else arrival +
        ORDER_MAX_ASYNC_SECONDS (posnext-api.md Submit 5)."""
        recorded = getattr(order, "deadline", None)
        if recorded:
            return float(recorded)
        request = order.doc
        if request.get("ttl"):
            return _epoch(request.get("request_datetime")) + float(request["ttl"])
        return self.arrival(uid, order) + self.setting("ORDER_MAX_ASYNC_SECONDS")

    def reconcile_bound(self, uid: str, order: Order) -> float:
        """The latest an order may still be pending: deadline + RECONCILE_SECONDS + slack
        (reliability.bounds.reconcile_slack, plus the longest Redis outage the injector makes)."""
        slack = reconcile_slack(self.setting("CLOCK_SKEW_SECONDS"), self.setting("SWEEP_SECONDS"),
                                self.setting("POS_CONNECT_TIMEOUT"), self.setting("POS_READ_TIMEOUT")) + OUTAGE
        return max(self.deadline(uid, order), self.arrival(uid, order)) + self.setting("RECONCILE_SECONDS") + slack


def payload_fp(body: dict) -> str:
    return fingerprint(_schema.load(jsonio.loads(jsonio.dumps(body))))


def _overlaps(call: Call, windows: list[Window], kinds: tuple[str, ...], margin: float) -> bool:
    return any(w.kind in kinds and call.started <= w.end + margin and call.ended >= w.start for w in windows)


def _epoch(text: str | None) -> float:
    moment = parse_time(text)
    return moment.timestamp() if moment else 0.0


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
        completed = ev.final_at.get(uid) or _epoch(order.doc.get("completed_at"))
        if completed > bound:
            check.fail(f"{uid}: {order.status} only {completed - deadline:.1f}s past its deadline "
                       f"(bound +{bound - deadline:.1f}s)")
    return check


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
    one = Check("exactly one POS order per placed order, same pos_order_id")
    none = Check("no POS order for rejected, errored or unrecorded orders")
    known = set(ev.journal.planned)
    for uid, order in ev.records.items():
        if order is None:
            continue
        entries = ev.ledger_for(uid)
        if order.status == "placed":
            one.checked += 1
            pos_id = order.doc["order_details"].get("pos_order_id")
            if len(entries) != 1 or entries[0]["pos_order_id"] != pos_id:
                one.fail(f"{uid}: placed as {pos_id}, ledger has {[e['pos_order_id'] for e in entries]}")
        else:
            none.checked += 1
            if entries:
                none.fail(f"{uid}: {order.status} ({_codes(order)}) but the POS has "
                          f"{[e['pos_order_id'] for e in entries]}")
    for entry in ev.ledger:
        if entry["external_id"] not in known or ev.records.get(entry["external_id"]) is None:
            none.checked += 1
            none.fail(f"{entry['external_id']}: POS order {entry['pos_order_id']} for no recorded order")
    return one, none


def check_deadlines(ev: Evidence) -> tuple[Check, dict]:
    """No POS order received after its order's deadline (+ transit)."""
    check = Check(f"no POST that made an order reached the POS after its deadline (+{int(TRANSIT * 1000)} ms transit)")
    stats = {"created_after_deadline": 0, "max_received_lateness_ms": None, "orders_sent_without_not_after": 0}
    for entry in ev.ledger:
        order = ev.records.get(entry["external_id"])
        if order is None:
            continue
        check.checked += 1
        deadline = ev.deadline(order.uid, order)
        late = _epoch(entry["received_at"]) - deadline
        if stats["max_received_lateness_ms"] is None or late * 1000 > stats["max_received_lateness_ms"]:
            stats["max_received_lateness_ms"] = round(late * 1000)
        if late > TRANSIT:
            check.fail(f"{order.uid}: POS received the POST {late:.3f}s after the deadline")
        if _epoch(entry["created_at"]) > deadline + ROUNDING:
            stats["created_after_deadline"] += 1
        if entry.get("not_after") is None:
            stats["orders_sent_without_not_after"] += 1
    return check, stats


def check_created_in_time(ev: Evidence) -> Check:
    """No POS order created after its deadline (the ledger's created_at, the POS's clock), and
    none sent with a not_after later than the order's deadline."""
    check = Check("no POS order created after its deadline (ledger created_at; not_after = the deadline)")
    for entry in ev.ledger:
        order = ev.records.get(entry["external_id"])
        if order is None:
            continue
        check.checked += 1
        deadline = ev.deadline(order.uid, order)
        created = _epoch(entry["created_at"])
        not_after = _epoch(entry.get("not_after")) if entry.get("not_after") else None
        if created > deadline + ROUNDING:
            check.fail(f"{order.uid}: POS order {entry['pos_order_id']} created {created - deadline:.3f}s after "
                       f"the deadline (not_after {entry.get('not_after')})")
        elif not_after is not None and not_after > deadline + ROUNDING:
            check.fail(f"{order.uid}: sent with not_after {entry['not_after']}, {not_after - deadline:.3f}s after "
                       "its deadline")
    return check


def check_completed_at(ev: Evidence) -> Check:
    """The completed_at an answer shows is when the order became final on the store's clock
    (within CLOCK_SKEW_SECONDS + 1 s), whichever host's clock wrote it."""
    allowance = ev.setting("CLOCK_SKEW_SECONDS") + 1.0
    check = Check(f"completed_at on the store's clock (within {allowance:g}s of the final transition)")
    for uid, at in ev.final_at.items():
        order = ev.records.get(uid)
        completed = _epoch(order.doc.get("completed_at")) if order is not None else 0.0
        if not completed:
            continue
        check.checked += 1
        if abs(completed - at) > allowance:
            check.fail(f"{uid}: completed_at {order.doc['completed_at']} is {completed - at:+.1f}s from the "
                       f"store's final transition")
    return check


def check_processes(ev: Evidence) -> Check:
    """No process of the stack exited on its own (the injector's kills are restarted)."""
    check = Check("every process of the stack still running (none exited on its own)", checked=1)
    check.violations.extend(ev.exited)
    return check


def check_callbacks_once(ev: Evidence) -> Check:
    """At most one automatic delivery per final state: none after one the receiver answered 2xx."""
    check = Check("no callback delivered twice automatically (receiver's count per request_uid)")
    for uid, count in sorted(ev.receiver.counts().items()):
        check.checked += 1
        deliveries = sorted(ev.receiver.for_uid(uid), key=lambda d: d.at)
        first_ok = next((n for n, d in enumerate(deliveries) if d.answered < 300), None)
        if first_ok is not None and first_ok + 1 < len(deliveries):
            check.fail(f"{uid}: {count} deliveries, {len(deliveries) - first_ok - 1} after the one answered "
                       f"{deliveries[first_ok].answered}")
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
        unknown = "pos_outcome_unknown" in _codes(order)
        end = _epoch(order.doc.get("completed_at")) if order.final and not unknown else now
        seconds = max(end, ev.arrival(uid, order)) - ev.arrival(uid, order)
        bound = pos_call_bound(seconds, base, cap)
        if total > bound:
            check.fail(f"{uid}: {total} POS calls ({calls.get('posts', 0)} POSTs, {calls.get('lookups', 0)} "
                       f"lookups) in {seconds:.1f}s, bound {bound:.1f}")
    return check


def check_callbacks(ev: Evidence) -> Check:
    check = Check("every callback delivered (signed, final status) or kept for replay")
    for uid, order in ev.records.items():
        if order is None or not order.doc.get("callback_url"):
            continue
        deliveries = ev.receiver.for_uid(uid)
        for delivery in deliveries:
            if not delivery.digest_ok or delivery.status != order.status:
                check.fail(f"{uid}: callback with status {delivery.status} (record {order.status}), "
                           f"digest ok={delivery.digest_ok}")
        if not (order.final and order.handed_off):
            continue
        check.checked += 1
        delivered = any(d.answered < 300 for d in deliveries)
        if not delivered and uid not in ev.dead_callbacks:
            state = _callback_state(order.callback)
            check.fail(f"{uid}: {order.status}, callback neither delivered nor kept ({state}, "
                       f"{len(deliveries)} deliveries)")
    return check


def check_http(ev: Evidence) -> tuple[Check, Check, Check]:
    five = Check("no 5xx but 503 while Redis was down (or the web frozen)")
    unanswered = Check("every request answered, but while the web process was down")
    signed = Check("answers signed (x-pch-digest) and 200/202 agree with the body's status")
    for call in ev.journal.calls:
        five.checked += 1
        unanswered.checked += 1
        if call.status is not None and call.status >= 500:
            if call.status != 503 or not _overlaps(call, ev.windows, UNAVAILABLE, REDIS_MARGIN):
                five.fail(f"{call.uid}: HTTP {call.status} on {call.kind} at {call.started:.3f}: "
                          f"{_errors(call.body)}")
        if call.status is None and not _overlaps(call, ev.windows, WEB_AWAY, 0.5):
            unanswered.fail(f"{call.uid}: {call.kind} got no answer ({call.error}) at {call.started:.3f}")
        if call.status is None or call.kind == "poll":
            continue
        signed.checked += 1
        status = (call.body or {}).get("status") if isinstance(call.body, dict) else None
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
            if call.status == 409 and fps[call.payload] == order.fp:
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
            check.fail(f"{uid}: {order.status} ({_codes(order)}), {len(ev.ledger_for(uid))} POS orders")
    return check


def check_all(ev: Evidence, now: float) -> tuple[list[Check], dict]:
    one, none = check_pos_orders(ev)
    deadline_check, stats = check_deadlines(ev)
    five, unanswered, signed = check_http(ev)
    checks = [check_final(ev, now), check_recorded(ev), one, none, deadline_check, check_created_in_time(ev),
              check_callbacks(ev), check_callbacks_once(ev), check_pos_calls(ev, now), five, unanswered, signed,
              check_idempotency(ev), check_rules(ev), check_completed_at(ev), check_processes(ev)]
    return checks, stats


def _callback_state(callback) -> str:
    """The record's callback state, whether the store keeps it as a dict or as its name."""
    if isinstance(callback, dict):
        return callback.get("state", "never tried")
    return str(callback or "never tried")


def _codes(order: Order) -> str:
    return ",".join(e.get("code", "?") for e in order.doc.get("errors") or []) or "-"


def _errors(body) -> str:
    if isinstance(body, dict):
        return ",".join(e.get("code", "?") for e in body.get("errors") or [])
    return "-"
