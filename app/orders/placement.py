"""Placing an order at the POS exactly once: one attempt, and how its outcome is recorded.

Used by the web process inline and by the workers alike. Whoever calls the POS for an order
holds its lease; after any attempt whose outcome is unknown (a timeout, a 5xx, a reset), the
next one looks the order up at the POS before placing again, under the same Idempotency-Key.
No POST is sent once the order's deadline has passed.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from app import metrics
from app.orders import records
from app.orders.store import Order, OrderStore
from app.pos.base import InProgress, Placed, PosUnavailable, Refused
from app.times import format_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What an attempt came to: final, or try again (the POS was busy, slow or down)."""

    status: str
    retry: bool = False
    reason: str = ""


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
        applied, previous, handed_off = self.store.transition(order.uid, doc, by, note or status)
        if applied:
            path = "worker" if handed_off else "inline"
            metrics.ORDERS.labels("submit", status, path).inc()
            log.info("order final", extra={"request_uid": order.uid, "status": status, "by": by, "path": path})
            if handed_off and doc.get("callback_url"):
                self.tasks.deliver_callback(order.uid)
        return Step(status if applied else previous)

    def errored(self, order: Order, code: str, message: str, by: str) -> Step:
        return self.finish(order, "errored", by, [{"code": code, "message": message}], note=code)

    # -- one attempt --------------------------------------------------------------------
    def attempt(self, uid: str, by: str, timeout: float | None = None) -> Step:
        """One move at the POS for an order whose lease the caller holds."""
        order = self.store.get(uid)
        if order is None:
            return Step("missing")
        if order.final:
            return Step(order.status)
        now = self.clock()
        if order.attempts:
            try:
                found = self.pos.find_order(uid)
            except PosUnavailable as exc:
                if now >= order.deadline:
                    return self.errored(order, "deadline_exceeded",
                                        "the deadline passed and the POS could not be asked whether it has the order",
                                        by)
                return Step("pending", retry=True, reason=str(exc))
            if found is not None:
                return self.finish(order, "placed", by, pos_order_id=found.pos_order_id, note="found at the POS")
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

    def backoff(self, attempts: int, deadline: float) -> float:
        """Exponential backoff with full jitter, never past the deadline (the last check)."""
        base, cap = self.settings.retry_base_seconds, self.settings.retry_cap_seconds
        delay = random.uniform(base / 2, min(cap, base * 2 ** max(attempts - 1, 0)))
        return max(0.0, min(delay, deadline - self.clock()))

    # -- the worker's move ----------------------------------------------------------------
    def advance(self, uid: str, validate) -> tuple[Step, float | None]:
        """The worker's whole move on an order. Returns the step and, to retry, a countdown."""
        order = self.store.get(uid)
        if order is None or order.final:
            return Step(order.status if order else "missing"), None
        token = self.store.acquire(uid, self.settings.lease_seconds)
        if token is None:  # the web process (or another worker) is mid-call: look again soon
            metrics.WORKER_STEPS.labels("lease_busy").inc()
            return Step("pending", retry=True, reason="lease held"), min(self.store.lease_left(uid), 1.0) + 0.05
        try:
            if not order.handed_off:
                self.store.hand_off(uid, self.clock(), "worker")
            if not order.doc.get("validated"):
                step = validate(self.store.get(uid), "worker")
                if step is not None:
                    return step, None
            step = self.attempt(uid, "worker")
        finally:
            self.store.release(uid, token)
        metrics.WORKER_STEPS.labels("retry" if step.retry else step.status).inc()
        if not step.retry:
            return step, None
        order = self.store.get(uid)
        delay = self.backoff(order.attempts, order.deadline)
        self.store.note(uid, "worker", f"retry in {delay:.2f}s", next_at=self.clock() + delay)
        return step, delay
