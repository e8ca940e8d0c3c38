"""The one answer path: everything said about an order — a submit's 200 or 202, a poll, the
recovery list, a callback — is judged here (`Answers.about`, `Answers.listed`).

The rule, in one sentence: a state is answered only once the Redis that holds it confirmed it
(durability.py), and that confirmation is recorded with the record before the answer.

- A final state confirmed durable: answered as it is (200).
- A final not yet confirmed, or a pending order: answered `pending` (a submit's 202), provided
  its record was confirmed; otherwise nothing is promised (NotDurable: 503).
- A confirmation is recorded with the record (its `acked` field, itself waited for under
  DURABILITY=replica: store.record_confirmed), so a later read answers the state as it was
  confirmed, without a fresh wait: a replica lost after an answer does not turn an answered
  `placed` back into `pending`.
- A 202 owes a callback: every final of an order with a callback_url is called back, whoever
  writes it (scripts.SETTLE), so no answer has to record anything for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.jsonio import Json
from app.orders.lifecycle import Status
from app.orders.order import Order, view
from app.orders.store import UNAVAILABLE, OrderStore
from app.times import format_time

log = logging.getLogger(__name__)


class NotDurable(Exception):
    """The order's record was never confirmed durable: nothing may be promised about it."""


def pending_view(doc: Json) -> Json:
    """The record as a pending order (a final state not yet confirmed is not shown)."""
    body = view(doc)
    body.update(status=Status.PENDING, errors=[], completed_at=None)
    body["order_details"] = {k: v for k, v in body["order_details"].items() if k != "pos_order_id"}
    return body


class Answers:
    def __init__(self, store: OrderStore):
        self.store = store
        self.durability = store.durability

    def confirm(self, order: Order) -> bool:
        """Whether the order's state is confirmed durable: by its record, else by a probe now
        (whose confirmation is then recorded with it)."""
        if order.confirmed or not self.durability.waits:
            return True
        if not self.durability.confirm(self.store.redis):
            return False
        return self._record(order)

    def _record(self, order: Order) -> bool:
        """The probe vouched for the state: recorded with it, the mark waited for; False when the
        mark is not durable (the state is answered as the mark would say only once it is)."""
        try:
            return self.store.record_confirmed(order.uid, order.status)
        except UNAVAILABLE as exc:
            log.warning("confirmation not recorded", extra={"request_uid": order.uid, "error": type(exc).__name__})
            return False

    def about(self, order: Order) -> tuple[int, Json]:
        """(200, the final record) or (202, the record as pending). NotDurable when nothing may
        be said about it (its record was never confirmed)."""
        confirmed = self.confirm(order)
        if order.final and confirmed:
            return 200, view(order.doc)
        if not confirmed and not order.acked:
            raise NotDurable(order.uid)
        body = pending_view(order.doc)
        if order.cancel_requested_at is not None:
            body["cancel_requested_at"] = format_time(order.cancel_requested_at)
        return 202, body

    def page_judge(self) -> Callable[[Order], Json | None]:
        """A judge for one page of the recovery list: order -> its view, or None (never
        confirmed durable). One probe at most per page, however many orders it holds."""
        probed: list[bool] = []

        def judge(order: Order) -> Json | None:
            confirmed = order.confirmed or not self.durability.waits
            if not confirmed:
                if not probed:
                    probed.append(self.durability.confirm(self.store.redis))
                # vouched for by the page's probe; a final is answered as final once that is recorded
                confirmed = probed[0] and (not order.final or self._record(order))
            if order.final and confirmed:
                return view(order.doc)
            if confirmed or order.acked:
                return pending_view(order.doc)
            return None

        return judge

    def deliverable(self, order: Order) -> bool:
        """A callback may carry this final state: it is confirmed durable."""
        return order.final and self.confirm(order)
