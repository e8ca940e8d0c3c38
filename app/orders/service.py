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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings

import logging
import time

from app import jsonio, metrics
from app.jsonio import Json
from app.menus import Answered, Held, MenuCache, menu_key
from app.orders import decide
from app.orders.answers import Answers, NotDurable, pending_view
from app.orders.checks import OrderChecks, menu_unavailable
from app.orders.decide import Decision, Next
from app.orders.finals import Finals
from app.orders.lifecycle import FINAL, VALIDATED, Move, MoveResult, Status
from app.orders.moves import Mover
from app.orders.order import Created, Order, fingerprint, new_record, ttl_deadline, view
from app.orders.store import UNAVAILABLE, OrderStore
from app.pos.base import PosAdapter
from app.responses import envelope
from app.tasks import Tasks
from app.times import format_time

log = logging.getLogger(__name__)
POLL_SECONDS = 0.02
CLAIM_MARGIN = 1.0  # the web's claim outlasts its budget by this much (the closing write)
MIN_CALL = 0.05


class Conflict(Exception):
    """The request_uid was used with a different payload."""


class NotFound(Exception):
    pass


class NotCancellable(Exception):
    """The order is final in another status than cancelled: a final state never changes."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


class OrderService:
    def __init__(self, settings: Settings, store: OrderStore, menus: MenuCache, pos: PosAdapter, tasks: Tasks):
        self.settings = settings
        self.store = store
        self.menus = menus
        self.pos = pos
        self.tasks = tasks
        self.checks = OrderChecks(menus, settings)
        self.finals = Finals(store, tasks)
        self.answers = Answers(store)
        self.mover = Mover(store, pos, self.checks, self.finals, settings, self.answers)
        self.budget = settings.inline_budget_ms / 1000.0

    # -- validate ---------------------------------------------------------------------
    def validate(self, request: Json, arrived: float | None = None) -> Json:
        arrived = time.monotonic() if arrived is None else arrived
        now, read = self.menus.read(request["location_id"], self.store.now_arg())  # one round trip
        verdict = self.checks.verdict(
            request, now, raw=read, timeout=arrived + self.budget - time.monotonic(), new=True
        )
        if verdict is None:
            metrics.child(metrics.ORDERS, "validate", Status.ERRORED, "inline").inc()
            return envelope(Status.ERRORED, [menu_unavailable(request)], request)
        status = VALIDATED if verdict.ok else Status.REJECTED
        metrics.child(metrics.ORDERS, "validate", status, "inline").inc()
        # the answer's money is the request's own (posnext-api.md, Signing): computed figures that
        # differ are in totals_mismatch's `expected`, never in the signed fields
        details = dict(request["order_details"])
        if verdict.ok:  # the computed totals equal the request's; those it left out are filled in
            details.update(verdict.totals.as_dict())
        return envelope(status, verdict.problems, request, order_details=details)

    # -- submit -----------------------------------------------------------------------
    def submit(self, request: Json, arrived: float) -> tuple[int, Json]:
        """`arrived`: time.monotonic() when the request arrived (the budget counts from it)."""
        uid = request["request_uid"]
        budget_end = arrived + self.budget
        doc_text = jsonio.dumps(new_record(request, time.time()))
        fp, ttl_at = fingerprint(request), ttl_deadline(request)
        location = request["location_id"]
        held, key = self.menus.held(location), menu_key(location)  # CREATE reads a newer menu than held
        archived = self.store.archived(uid)  # a request_uid is never reused within retention (app/archive/)
        if archived is not None:
            if archived.fp != fp:
                raise Conflict(uid)
            return self.answers.about(archived)
        created, token = self.store.create(
            uid,
            fp=fp,
            doc_text=doc_text,
            location=location,
            ttl_deadline=ttl_at,
            max_async=self.settings.order_max_async_seconds,
            by="web",
            claim_seconds=max(budget_end - time.monotonic(), 0.0) + CLAIM_MARGIN,
            menu_key=key,
            menu_version=held.version if held else "",
        )
        if not created.created:
            if created.fp != fp:
                raise Conflict(uid)
            return self._await(uid, budget_end, recorded=bool(created.acked), doc_text=doc_text)
        if not created.acked:  # the replica did not acknowledge the record: nothing is promised (503)
            try:  # and nothing half-written stays for a worker to place
                self.store.discard(uid, token, location)
            except UNAVAILABLE as exc:
                log.warning(
                    "an unacknowledged record not taken back", extra={"request_uid": uid, "error": type(exc).__name__}
                )
            raise NotDurable(uid)
        # the record as stored (parsed from the bytes written), so every reader builds the same POS body
        order = Order(
            uid=uid,
            status=Status.PENDING,
            doc=jsonio.loads(doc_text),
            fp=fp,
            deadline=created.deadline,
            created=created.now,
            handed_off=False,
            validated=False,
            calls=0,
            acked=created.acked,
        )
        try:
            return self._inline(order, token, created, budget_end, held)
        except UNAVAILABLE as exc:  # recorded durably: the schedule finishes it, and PAR gets a 202
            log.warning(
                "store trouble after the order was recorded; answered 202",
                extra={"request_uid": uid, "error": type(exc).__name__},
            )
            return 202, pending_view(order.doc)

    def _inline(
        self, order: Order, token: str, created: Created, budget_end: float, held: Held | None
    ) -> tuple[int, Json]:
        uid = order.uid

        def budget_left() -> float:
            return budget_end - time.monotonic()

        def left() -> float:
            """A POS call's time: the smaller of the budget left and the deadline left."""
            return min(budget_left(), order.deadline - created.redis_now())  # never late (RedisTime)

        menu = Answered(held, created.menu_version, created.menu)  # CREATE's read of the menu
        verdict = self.checks.verdict(order.doc, created.now, raw=menu, timeout=budget_left(), new=True)
        if verdict is None:
            return self._hand_off(order, token, "no menu within the budget: a worker validates it")
        if not verdict.ok:
            refusal = decide.refused(verdict.problems, "refused by validation")
            return self._finish(refusal, order, token, created)
        body = self.pos.order_body(order.doc, order.deadline)
        ready = self.store.mark_validated(uid, token, by="web", pos_body=body, acked=order.acked)
        if ready is MoveResult.CANCEL_REQUESTED:  # recorded while the validation was made durable: its move decides
            return self._hand_off(order, token, "a cancel was recorded before the POST")
        if ready is not None:
            return self._await(uid, budget_end, recorded=True, doc_text=jsonio.dumps(order.doc))
        if left() < MIN_CALL:
            metrics.OVERRUNS.inc()
            return self._hand_off(order, token, "no time left in the budget for a POS call")
        result = self.pos.send_order(uid, body, timeout=left())
        decision = decide.after_post(result, order.deadline, self.settings.clock_skew_seconds)
        if decision.next is not Next.FINISH or decision.status is None:  # a worker retries or looks it up
            if getattr(result, "reason", "") == "timeout":
                metrics.OVERRUNS.inc()
            return self._hand_off(order, token, decision.note)
        return self._finish(decision, order, token, created)

    def _hand_off(self, order: Order, token: str, why: str) -> tuple[int, Json]:
        if self.store.hand_off(order.uid, token, by="web", note=why, acked=order.acked):
            self.store.mark_queued(Move.ORDER, order.uid)
            self.tasks.place_order(order.uid)
        return self._answer(order.uid)

    def _finish(self, decision: Decision, order: Order, token: str, created: Created) -> tuple[int, Json]:
        """The web's own final, as `decision` says: 200 once it and its confirmation are durable
        (Finals.finish), else 202 (written, not confirmed: a poll or the callback tells it)."""
        final = self.finals.carry_out(order, token, decision, by="web", now=created.redis_stamp)
        if final.applied and final.doc is not None:
            return (200, view(final.doc)) if final.acked else (202, pending_view(final.doc))
        if final.result is MoveResult.CANCEL_REQUESTED:  # recorded meanwhile: the cancel's move decides it
            return self._hand_off(order, token, "a cancel was recorded: its move decides")
        return self._answer(order.uid)

    # -- cancel -----------------------------------------------------------------------
    def cancel(self, uid: str, by: str, reason: str, arrived: float) -> tuple[int, Json]:
        """posnext-api.md, Cancel: (200, the record) once decided within the budget, else (202,
        pending with cancel_requested_at). NotFound; NotCancellable for another final."""
        order = self.store.get(uid)
        if order is None:
            raise NotFound(uid)
        if order.final and order.status != Status.CANCELLED:
            raise NotCancellable(order.status)
        if not order.final:
            doc = dict(
                order.doc,
                status=Status.CANCELLED,
                completed_at=format_time(self.store.now()),
                errors=[{"code": "cancelled", "message": reason or "cancelled on request"}],
            )
            outcome, _, _ = self.store.cancel(uid, doc, by, reason)
            if outcome == "missing":
                raise NotFound(uid)
            if outcome in FINAL and outcome != Status.CANCELLED:
                raise NotCancellable(outcome)
            if outcome == "requested":  # a POST may have reached the POS: void it now, if nobody holds it
                self.mover.cancel_now(uid, arrived + self.budget - time.monotonic())
        return self._answer(uid)  # cancelled; placed when the POS would not void it; or 202

    # -- reading ----------------------------------------------------------------------
    def _await(self, uid: str, until: float, *, recorded: bool, doc_text: str) -> tuple[int, Json]:
        """A duplicate of an order still in flight waits for it, up to its own budget.
        `recorded`: the order was confirmed durable, so no answer about it is a 503 (a 202 from
        this request's own record, `doc_text`, when the store fails)."""
        try:
            while True:
                order = self.store.get(uid)
                if order is None:  # its creator took it back (not acknowledged, DISCARD): nothing promised
                    raise NotDurable(uid)
                if order.final or time.monotonic() + POLL_SECONDS > until:
                    break
                time.sleep(POLL_SECONDS)
            return self.answers.about(order)
        except UNAVAILABLE:
            if not recorded:
                raise
            return 202, pending_view(jsonio.loads(doc_text))

    def _answer(self, uid: str) -> tuple[int, Json]:
        order = self.store.get(uid)
        if order is None:
            raise NotFound(uid)
        return self.answers.about(order)

    def answer(self, uid: str) -> tuple[int, Json]:
        """A poll: (200, the final record) once confirmed durable, else (202, the record as pending)."""
        return self._answer(uid)

    # -- the workers' and on-call's moves -----------------------------------------------
    def advance(self, uid: str) -> MoveResult:
        """A worker's move on an order (moves.Mover.move_order)."""
        return self.mover.move_order(uid)

    def reconcile(self, uid: str) -> MoveResult:
        return self.mover.reconcile(uid)

    def redrive(self, uid: str, by: str = "cli") -> tuple[bool, str]:
        """Make an open order's next move due now and send it to a worker. One move in flight at
        most: a redrive while one is in flight, or a second redrive, starts nothing more."""
        moved, why = self.store.redrive(uid, by)
        if moved:
            self.store.mark_queued(Move.ORDER, uid)
            self.tasks.place_order(uid)
        return moved, why

    def replay_callback(self, uid: str, by: str = "cli") -> tuple[bool, str]:
        replayed, why = self.store.replay_callback(uid, by)
        if replayed:
            self.store.mark_queued(Move.CALLBACK, uid)
            self.tasks.deliver_callback(uid)
        return replayed, why
