"""Placing an order at the POS exactly once: one attempt, and how its outcome is recorded.

Used by the web process inline and by the workers alike. Whoever calls the POS for an order
holds its lease; after any attempt whose outcome is unknown (a timeout, a 5xx, a reset), the
next one looks the order up at the POS before placing again, under the same Idempotency-Key.
No POST is sent once the order's deadline has passed. After an unknown outcome the order is
errored (deadline_exceeded) only once a lookup, made when a POST sent before the deadline can
no longer land (connect + read timeout after it), shows the POS does not have it.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from app import metrics
from app.callbacks import overdue_at
from app.orders import records
from app.orders.store import FINAL, Order, OrderStore
from app.pos.base import InProgress, Placed, PosUnavailable, Refused
from app.times import format_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What an attempt came to: final, or try again (the POS was busy, slow or down)."""

    status: str
    retry: bool = False
    reason: str = ""
    doc: dict | None = field(default=None, compare=False, repr=False)  # the final record this step wrote


class Placement:
    def __init__(self, store: OrderStore, pos, settings, tasks, clock=time.time):
        self.store = store
        self.pos = pos
        self.settings = settings
        self.tasks = tasks
        self.clock = clock

    # -- recording outcomes -----------------------------------------------------------
    def finish(self, order: Order, status: str, by: str, errors: list[dict] | None = None,
               pos_order_id: str | None = None, note: str = "") -> Step:
        doc = dict(order.doc, status=status, errors=errors or [], completed_at=format_time(self.clock()))
        if pos_order_id:
            doc["order_details"] = dict(doc["order_details"], pos_order_id=pos_order_id)
        owed = overdue_at(self.settings, self.clock()) if doc.get("callback_url") and status in FINAL else None
        applied, previous, handed_off = self.store.transition(order.uid, doc, by, note or status, callback_due=owed)
        if applied:
            path = "worker" if handed_off else "inline"
            metrics.ORDERS.labels("submit", status, path).inc()
            log.info("order final", extra={"request_uid": order.uid, "status": status, "by": by, "path": path})
            if handed_off and doc.get("callback_url"):
                self.tasks.deliver_callback(order.uid)
        return Step(status, doc=doc) if applied else Step(previous)

    def errored(self, order: Order, code: str, message: str, by: str) -> Step:
        return self.finish(order, "errored", by, [{"code": code, "message": message}], note=code)

    # -- one attempt --------------------------------------------------------------------
    def attempt(self, uid: str, by: str, timeout: float | None = None, order: Order | None = None) -> Step:
        """One move at the POS for an order whose lease the caller holds (`order`: as read
        after the lease was taken, when the caller has it)."""
        order = order if order is not None else self.store.get(uid)
        if order is None:
            return Step("missing")
        if order.final:
            return Step(order.status)
        now = self.clock()
        if order.attempts:
            try:
                found = self.pos.find_order(uid)
            except PosUnavailable as exc:  # the POS may hold the order: never errored on a guess
                return Step("pending", retry=True, reason=str(exc))
            if found is not None:
                return self.finish(order, "placed", by, pos_order_id=found.pos_order_id, note="found at the POS")
            if order.deadline <= now < order.deadline + self.settle_seconds:
                return Step("pending", retry=True, reason="deadline passed; a POS call sent before it may still land")
        if now >= order.deadline:
            return self.errored(order, "deadline_exceeded",
                                "the order could not be placed before its deadline", by)
        left = order.deadline - now
        read_timeout = left if timeout is None else min(timeout, left)
        self.store.count_attempt(uid)
        outcome = self.pos.place_order(uid, records.pos_body(order.doc), timeout=read_timeout)
        if isinstance(outcome, Placed):
            return self.finish(order, "placed", by, pos_order_id=outcome.pos_order_id)
        if isinstance(outcome, Refused):
            return self.finish(order, "rejected", by, [{"code": outcome.code, "message": outcome.message}],
                               note=f"POS refused: {outcome.code}")
        reason = "in_progress" if isinstance(outcome, InProgress) else outcome.reason
        self.store.note(uid, by, f"POS attempt: {reason}")
        return Step("pending", retry=True, reason=reason)

    @property
    def settle_seconds(self) -> float:
        """How long after the deadline a POST sent before it may still create the order at the POS."""
        return self.settings.pos_connect_timeout + self.settings.pos_read_timeout

    def backoff(self, attempts: int, deadline: float) -> float:
        """Exponential backoff with full jitter, never past the deadline (the last check) while
        it is ahead; past it (looking the order up), the plain delay."""
        base, cap = self.settings.retry_base_seconds, self.settings.retry_cap_seconds
        left = deadline - self.clock()
        # Past the deadline only lookups are made and `attempts` (POSTs) stops growing: the time
        # overdue grows the backoff instead, so a POS down for good is not asked ever faster.
        delay = random.uniform(base / 2, min(cap, max(base * 2 ** max(attempts - 1, 0), -left)))
        return delay if left <= 0 else min(delay, left)

    # -- the worker's move ----------------------------------------------------------------
    def advance(self, uid: str, validate) -> tuple[Step, float | None]:
        """The worker's whole move on an order. Returns the step and, to retry, a countdown."""
        token, order = self.store.acquire_and_get(uid, self.settings.lease_seconds)
        if order is None or order.final:
            if token is not None:
                self.store.release(uid, token)
            return Step(order.status if order else "missing"), None
        current = order
        if token is None:  # the web process (or another worker) is mid-call: look again soon
            metrics.WORKER_STEPS.labels("lease_busy").inc()
            return Step("pending", retry=True, reason="lease held"), min(self.store.lease_left(uid), 1.0) + 0.05
        try:
            if not order.handed_off:
                self.store.hand_off(uid, self.clock(), "worker")
                current = None
            if not order.doc.get("validated"):
                step = validate(self.store.get(uid), "worker")
                if step is not None:
                    return step, None
                current = None
            step = self.attempt(uid, "worker", order=current)
        finally:
            self.store.release(uid, token)
        metrics.WORKER_STEPS.labels("retry" if step.retry else step.status).inc()
        if not step.retry:
            return step, None
        order = self.store.get(uid)
        delay = self.backoff(order.attempts, order.deadline)
        self.store.note(uid, "worker", f"retry in {delay:.2f}s", next_at=self.clock() + delay)
        return step, delay
