"""The order use cases: validate, submit (inline within the budget, else a worker), answer.

The web process and the workers call this one service. Submit, inline:

1. record the order (scripts.CREATE), claimed by this request until its budget ends, and
   read the location's menu in the same round trip (its bytes only when this process does not
   hold that version already: app/menus.py);
2. check it against the menu (a missing menu is fetched within the budget left; none in time:
   202, a worker validates it later); a refusal is final and recorded;
3. one POS call whose whole duration fits the budget left, carrying `not_after`;
4. an answer from the POS in time: final, durable, 200. Otherwise (no time left, a transient
   failure, the call cut at the budget): the order is handed off — its next move due now in
   the schedule, a task sent — and PAR gets 202. The POS call cut short may still create the
   order: the worker's call under the same Idempotency-Key gets 409, or that same order.

If this process dies at any point, its claim lapses at the end of the budget and the order
is due in the schedule: the sweep hands it to a worker.
"""

from __future__ import annotations

import logging
import time

from app import metrics
from app.menus import MenuCache, menu_key
from app.orders import records
from app.orders.checks import OrderChecks, menu_unavailable
from app.orders.finals import Final, Finals
from app.orders.moves import Mover
from app.orders.store import Order, OrderStore
from app.pos.base import Expired, Placed, PosAdapter, Refused

log = logging.getLogger(__name__)
POLL_SECONDS = 0.02
CLAIM_MARGIN = 1.0  # the web's claim outlasts its budget by this much (the closing write)
MIN_CALL = 0.05


class Conflict(Exception):
    """The request_uid was used with a different payload."""


class NotFound(Exception):
    pass


class OrderService:
    def __init__(self, settings, store: OrderStore, menus: MenuCache, pos: PosAdapter, tasks):
        self.settings = settings
        self.store = store
        self.menus = menus
        self.pos = pos
        self.tasks = tasks
        self.checks = OrderChecks(menus, settings)
        self.finals = Finals(store, tasks)
        self.mover = Mover(store, pos, self.checks, self.finals, settings)
        self.budget = settings.inline_budget_ms / 1000.0

    # -- validate ---------------------------------------------------------------------
    def validate(self, request: dict, arrived: float | None = None) -> dict:
        arrived = time.monotonic() if arrived is None else arrived
        now, read = self.menus.read(request["location_id"], self.store.now_arg())  # one round trip
        verdict = self.checks.verdict(request, now, read, timeout=arrived + self.budget - time.monotonic(), new=True)
        if verdict is None:
            metrics.child(metrics.ORDERS, "validate", "errored", "inline").inc()
            return records.envelope("errored", [menu_unavailable(request)], request)
        details = dict(request["order_details"], **verdict.totals.as_dict())
        status = "validated" if verdict.ok else "rejected"
        metrics.child(metrics.ORDERS, "validate", status, "inline").inc()
        return records.envelope(status, verdict.problems, request, order_details=details)

    # -- submit -----------------------------------------------------------------------
    def submit(self, request: dict, arrived: float) -> tuple[int, dict]:
        """`arrived`: time.monotonic() when the request arrived (the budget counts from it)."""
        uid = request["request_uid"]
        budget_end = arrived + self.budget

        def left() -> float:
            return budget_end - time.monotonic()

        def redis_now() -> float:
            """Now on Redis's clock: the one read when the order was recorded, moved on since."""
            return created.now + (time.monotonic() - recorded)

        doc = records.new_record(request, time.time())
        fp = records.fingerprint(request)
        location = request["location_id"]
        held = self.menus.held(location)
        created, token = self.store.create(uid, fp, doc, records.ttl_deadline(request),
                                           self.settings.order_max_async_seconds, "web",
                                           max(left(), 0.0) + CLAIM_MARGIN, menu_key(location),
                                           held.version if held else "")
        recorded = time.monotonic()
        if not created.created:
            if created.fp != fp:
                raise Conflict(uid)
            return self._await(uid, budget_end)
        order = Order(uid=uid, status="pending", doc=doc, fp=fp, deadline=created.deadline, created=created.now,
                      handed_off=False, validated=False, calls=0)
        menu = self.menus.accept(location, held, created.menu_version, created.menu)
        verdict = self.checks.verdict(doc, created.now, menu, timeout=left(), new=True)
        if verdict is None:
            return self._hand_off(uid, token, "no menu within the budget: a worker validates it")
        if not verdict.ok:
            return self._answer_final(self.finals.finish(order, token, "rejected", "web", verdict.problems,
                                                         note="refused by validation", at=redis_now()), uid)
        if not self.store.mark_validated(uid, token, "web"):
            return self._await(uid, budget_end)
        time_left = min(left(), order.deadline - created.now)
        if time_left < MIN_CALL:
            metrics.OVERRUNS.inc()
            return self._hand_off(uid, token, "no time left in the budget for a POS call")
        result = self.pos.place_order(doc, not_after=order.deadline, timeout=time_left)
        if isinstance(result, Placed):
            final = self.finals.finish(order, token, "placed", "web", pos_order_id=result.pos_order_id, at=redis_now())
        elif isinstance(result, Refused):
            final = self.finals.finish(order, token, "rejected", "web", [{"code": result.code,
                                                                           "message": result.message}],
                                       note=f"POS refused: {result.code}", at=redis_now())
        elif isinstance(result, Expired):
            final = self.finals.deadline_exceeded(order, token, "web", "the POS refused it past its deadline",
                                                  at=redis_now())
        else:
            reason = getattr(result, "reason", "in_progress")
            if reason == "timeout":
                metrics.OVERRUNS.inc()
            return self._hand_off(uid, token, f"POS attempt: {reason}")
        return self._answer_final(final, uid)

    def _hand_off(self, uid: str, token: str, why: str) -> tuple[int, dict]:
        if self.store.hand_off(uid, token, "web", why):
            self.store.mark_queued("o", uid)
            self.tasks.place_order(uid)
        return self.answer(uid)

    def _answer_final(self, final: Final, uid: str) -> tuple[int, dict]:
        if final.applied and final.acked:
            return 200, records.view(final.doc)
        return self.answer(uid)

    # -- reading ----------------------------------------------------------------------
    def _await(self, uid: str, until: float) -> tuple[int, dict]:
        """A duplicate of an order still in flight waits for it, up to its own budget."""
        while True:
            order = self.store.get(uid)
            if order is None or order.final or time.monotonic() + POLL_SECONDS > until:
                break
            time.sleep(POLL_SECONDS)
        return self.answer(uid)

    def answer(self, uid: str) -> tuple[int, dict]:
        """(200, the record) once final and durable; (202, the record as pending) before."""
        order = self.store.get(uid)
        if order is None:
            raise NotFound(uid)
        if order.final and self.store.durability.confirm(self.store.redis):
            return 200, records.view(order.doc)
        view = records.view(order.doc)
        if order.final:  # not yet confirmed durable: not answered as final
            view.update(status="pending", errors=[], completed_at=None)
            view["order_details"] = {k: v for k, v in view["order_details"].items() if k != "pos_order_id"}
        return 202, view

    # -- the workers' and on-call's moves -----------------------------------------------
    def advance(self, uid: str) -> str:
        """A worker's move on an order (moves.Mover.move_order)."""
        return self.mover.move_order(uid)

    def reconcile(self, uid: str) -> str:
        return self.mover.reconcile(uid)

    def redrive(self, uid: str, by: str = "cli") -> tuple[bool, str]:
        """Make an open order's next move due now and send it to a worker. One move in flight at
        most: a redrive while one is in flight, or a second redrive, starts nothing more."""
        moved, why = self.store.redrive(uid, by)
        if moved:
            self.store.mark_queued("o", uid)
            self.tasks.place_order(uid)
        return moved, why

    def replay_callback(self, uid: str, by: str = "cli") -> tuple[bool, str]:
        replayed, why = self.store.replay_callback(uid, by)
        if replayed:
            self.store.mark_queued("c", uid)
            self.tasks.deliver_callback(uid)
        return replayed, why
