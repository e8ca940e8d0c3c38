"""Making an order final: the record as it will be answered, written by one guarded script,
counted, logged and made durable before anyone is told (durability.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app import metrics
from app.jsonio import Json
from app.orders.decide import Decision
from app.orders.lifecycle import MoveResult
from app.orders.order import Order
from app.orders.store import UNAVAILABLE, OrderStore
from app.tasks import Tasks
from app.times import format_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Final:
    applied: bool
    status: str  # the final status written, or why nothing was (the order's status, claim_lost, missing)
    doc: Json | None = None  # the record as written
    acked: bool = False  # durable: it may be answered

    @property
    def result(self) -> MoveResult:
        """What the move that wrote (or tried to write) it ended in."""
        return MoveResult(self.status)


class Finals:
    def __init__(self, store: OrderStore, tasks: Tasks, clock: Callable[[], float] | None = None):
        self.store = store
        self.tasks = tasks
        self.clock = clock or time.time  # only when the caller does not say when (`at`)

    def finish(
        self,
        order: Order,
        token: str,
        *,
        status: str,
        by: str,
        errors: list[Json] | None = None,
        pos_order_id: str | None = None,
        note: str = "",
        endpoint: str = "submit",
        reconcile_in: float | None = None,
        listed: bool = True,
        decides_cancel: bool = False,
        at: float | None = None,
    ) -> Final:
        """`at`: now on Redis's clock, as the mover knows it (the host's clock may be off).
        `Final.acked`: the final and the mark that it was confirmed are durable (it may be answered)."""
        doc = dict(
            order.doc, status=status, errors=errors or [], completed_at=format_time(self.clock() if at is None else at)
        )
        if pos_order_id:
            doc["order_details"] = dict(doc["order_details"], pos_order_id=pos_order_id)
        applied, previous, path, acked, owed = self.store.finish(
            order.uid,
            token,
            doc=doc,
            by=by,
            note=note or status,
            endpoint=endpoint,
            reconcile_in=reconcile_in,
            listed=listed,
            decides_cancel=decides_cancel,
        )
        if not applied:
            return Final(False, previous)
        if acked and self.store.durability.waits:  # confirmed by its WAIT: recorded, that mark waited for too
            acked = self._record_confirmed(order.uid, status)
        metrics.child(metrics.ORDERS, endpoint, status, path).inc()
        log.info(
            "order final",
            extra={"request_uid": order.uid, "status": status, "by": by, "path": path, "reason": note or status},
        )
        if owed:
            self.tasks.deliver_callback(order.uid)
        if reconcile_in is not None and listed:
            metrics.RECONCILE_OPENED.inc()
        return Final(True, status, doc, acked)

    def carry_out(
        self,
        order: Order,
        token: str,
        decision: Decision,
        *,
        by: str,
        now: Callable[[], float] | None = None,
        reconcile_in: float | None = None,
        listed: bool = True,
        decides_cancel: bool = False,
    ) -> Final:
        """A FINISH decision (app/orders/decide.py) made final: its status, errors, POS order id
        and note. A placement the clocks cannot call on time or late (`decision.listed`) is put on
        on-call's list first; `now` (Redis's time) is read after that, for completed_at."""
        assert decision.status is not None  # only a FINISH decision is carried out
        if decision.listed:
            self.store.list_found(order.uid)
        return self.finish(
            order,
            token,
            status=decision.status,
            by=by,
            errors=decision.errors,
            pos_order_id=decision.pos_order_id,
            note=decision.note,
            reconcile_in=reconcile_in,
            listed=listed,
            decides_cancel=decides_cancel,
            at=None if now is None else now(),
        )

    def _record_confirmed(self, uid: str, status: str) -> bool:
        try:
            return self.store.record_confirmed(uid, status)
        except UNAVAILABLE as exc:  # confirmed, not recorded: not answered as final by this writer
            log.warning("confirmation not recorded", extra={"request_uid": uid, "error": type(exc).__name__})
            return False
