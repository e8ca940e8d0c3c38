"""One move of the engine on an order, its callback or its reconciliation: what a worker does
with a task. Every move starts with a claim (store.claim: the move is due and nobody else is
moving it) and ends with one guarded script that makes the order final or plans its next move
in the schedule. A mover that lost its claim (it froze, and the claim lapsed and was taken)
changes nothing: its last write is refused.

The rules of a move on an order (one POS call at most, bounded by the claim):
  before the deadline:  not validated -> validate (a refusal is final), then POST with
                        `not_after` = the deadline; a transient failure is retried with backoff,
                        never planned past deadline + CLOCK_SKEW_SECONDS.
  after the deadline:   never validated -> judged as on its arrival: refused -> rejected; else
                        errored / deadline_exceeded (no POST was ever sent);
                        else look it up: found -> placed; absent -> errored / deadline_exceeded
                        (with `not_after` no earlier call can still land); the POS cannot say
                        -> retried with backoff, and past RECONCILE_SECONDS errored /
                        pos_outcome_unknown while the lookups go on (reconcile moves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

import logging
from functools import partial

from app import metrics
from app.orders import backoff, decide
from app.orders.answers import Answers
from app.orders.checks import OrderChecks, menu_unavailable
from app.orders.decide import Decision, Next
from app.orders.finals import Finals
from app.orders.lifecycle import Move, MoveResult, Status
from app.orders.order import Claim, Order
from app.orders.store import OrderStore
from app.pos.base import NotVoidable, Placed, PosAdapter, PosUnavailable, Voided

log = logging.getLogger(__name__)
MARGIN = 0.5  # seconds of a claim kept free after its POS call, for the closing write
MIN_CLAIM = 1.0  # a cancel decided inline still claims this long (its closing write)
Clock = Callable[[], float]  # seconds: now on Redis's clock, or what is left of the claim
Finish = Callable[..., MoveResult]  # Finals.finish, completed at the claim's `redis_stamp()`


class Mover:
    def __init__(
        self,
        store: OrderStore,
        pos: PosAdapter,
        checks: OrderChecks,
        finals: Finals,
        settings: Settings,
        answers: Answers | None = None,
    ):
        self.answers = answers or Answers(store)
        self.store = store
        self.pos = pos
        self.checks = checks
        self.finals = finals
        self.settings = settings

    @property
    def claim_seconds(self) -> float:
        """One move: a menu fetch (two reads) and one POS call, each bounded, plus the margin."""
        return 3 * (self.settings.pos_connect_timeout + self.settings.pos_read_timeout) + MARGIN

    def _backoff(self, retries: int) -> float:
        return backoff.delay(retries, self.settings.retry_base_seconds, self.settings.retry_cap_seconds)

    # -- the order ------------------------------------------------------------------------
    def move_order(self, uid: str) -> MoveResult:
        claim = self.store.claim(Move.ORDER, uid, self.claim_seconds)
        if claim.refused is not None or claim.order is None:
            refused = claim.refused or MoveResult.UNREADABLE
            metrics.WORKER_STEPS.labels(refused).inc()
            return refused
        order = claim.order
        if order.cancel_requested_at is not None:
            outcome = self._cancel(claim, order)
        else:
            outcome = self._move(claim, order)
            if outcome is MoveResult.CANCEL_REQUESTED:  # recorded while this move was under way: decided now
                outcome = self._cancel(claim, order)
        metrics.WORKER_STEPS.labels(outcome).inc()
        return outcome

    def _move(self, claim: Claim, order: Order) -> MoveResult:
        uid, token = order.uid, claim.token
        skew = self.settings.clock_skew_seconds
        now = claim.redis_now  # at the latest: the deadline and the claim's time end early, never late

        left = partial(claim.seconds_left, MARGIN)

        def finish(*args: Any, **kwargs: Any) -> MoveResult:
            return self.finals.finish(*args, at=claim.redis_stamp(), **kwargs).result

        if not self.answers.confirm(order):  # no POS call for a record that could still be lost
            self.store.retry(
                uid, token, by="worker", note="waiting for the record to be durable", delay=self._backoff(order.calls)
            )
            return MoveResult.RETRY
        if now() < order.deadline:
            body = order.pos_body or self.pos.order_body(order.doc, order.deadline)
            if not order.validated:
                verdict = self.checks.verdict(order.doc, now(), timeout=min(left(), order.deadline - now()))
                if verdict is None:
                    self.store.retry(
                        uid,
                        token,
                        by="worker",
                        note="no menu to validate against",
                        delay=self._backoff(order.calls),
                        latest=order.deadline + skew,
                    )
                    return MoveResult.RETRY
                if not verdict.ok:
                    return self._carry_out(decide.refused(verdict.problems, "refused by validation"), claim, order)
                ready = self.store.mark_validated(uid, token, by="worker", pos_body=body)
            else:  # validated by an earlier move: a cancel may have been recorded since
                ready = self.store.may_post(uid, token)
            if ready is not None:
                return ready  # CANCEL_REQUESTED: move_order decides the cancel with this claim
            result = self.pos.send_order(uid, body, timeout=min(left(), order.deadline - now() + skew))
            decision = decide.after_post(result, order.deadline, skew)
            if decision.next is Next.LOOK_UP:
                return self._decide(claim, order, left, finish, before_deadline=True)
            if decision.next is Next.VOID:  # made after its deadline: the lookup's own path voids it
                return self._decide(claim, order, left, finish)
            if decision.next is Next.RETRY:
                self.store.retry(
                    uid,
                    token,
                    by="worker",
                    note=decision.note,
                    delay=self._backoff(order.calls),
                    latest=order.deadline + skew,
                )
                return MoveResult.RETRY
            if decision.status is Status.REJECTED and order.pos_body:
                # an earlier POST (the web's, cut; a move's that timed out) may have made the order
                # before the POS began refusing this key (the location closed meanwhile, say)
                return self._refused_unless_found(claim, order, decision, left)
            return self._carry_out(decision, claim, order)
        if not order.validated:
            # judged as it would have been when it arrived: an order the rules refused then (past its
            # deadline already, say) is rejected whichever path it took, never errored
            verdict = self.checks.verdict(order.doc, order.created, timeout=max(left(), 0.0))
            if verdict is not None and not verdict.ok:
                refusal = decide.refused(verdict.problems, "refused by validation (as on its arrival)")
                return self._carry_out(refusal, claim, order)
            if verdict is None:
                return finish(
                    order,
                    token,
                    status=Status.ERRORED,
                    by="worker",
                    errors=[menu_unavailable(order.doc)],
                    note="menu_unavailable",
                )
            return self._carry_out(decide.deadline_exceeded("never sent to the POS before its deadline"), claim, order)
        passed = claim.redis_stamp()  # at the earliest: a wait for a moment is never cut short
        if passed < order.deadline + skew - 0.001:  # the clocks' millisecond: decided now, not re-planned
            self.store.retry(
                uid, token, by="worker", note="deciding after the deadline", delay=order.deadline + skew - passed
            )
            return MoveResult.RETRY
        return self._decide(claim, order, left, finish)

    def _decide(
        self, claim: Claim, order: Order, left: Clock, finish: Finish, *, before_deadline: bool = False
    ) -> MoveResult:
        token = claim.token
        try:
            found = self.pos.find_order(order.uid, timeout=left())
        except PosUnavailable as exc:
            give_up = order.deadline + self.settings.reconcile_seconds
            if claim.redis_stamp() >= give_up:  # at the earliest: the window is never cut short
                return finish(
                    order,
                    token,
                    status=Status.ERRORED,
                    by="worker",
                    errors=[
                        {"code": "pos_outcome_unknown", "message": "the POS could not say whether it has this order"}
                    ],
                    note="pos_outcome_unknown",
                    reconcile_in=self._backoff(0),
                )
            self.store.retry(
                order.uid,
                token,
                by="worker",
                note=f"lookup failed: {exc}",
                delay=self._backoff(order.calls),
                latest=give_up,
            )
            return MoveResult.RETRY
        return self._found(claim, order, found, left, before_deadline=before_deadline)

    def _found(
        self,
        claim: Claim,
        order: Order,
        found: Placed | None,
        left: Clock,
        *,
        before_deadline: bool = False,
    ) -> MoveResult:
        """What a lookup's answer decides (decide.after_lookup), a late placement voided first."""
        decision = decide.after_lookup(found, order.deadline, self.settings.clock_skew_seconds, before_deadline)
        if decision.next is Next.VOID and found is not None:
            voided = self._void_late(order.uid, found, left())
            if voided is None:  # the void could not be answered: decided on a later move
                self.store.retry(
                    order.uid,
                    claim.token,
                    by="worker",
                    note="a late placement found; its void failed",
                    delay=self._backoff(order.calls),
                )
                return MoveResult.RETRY
            decision = decide.after_void(voided, found.pos_order_id)
        if decision.next is Next.RETRY:
            self.store.retry(
                order.uid,
                claim.token,
                by="worker",
                note=decision.note,
                delay=self._backoff(order.calls),
                latest=order.deadline + self.settings.clock_skew_seconds,
            )
            return MoveResult.RETRY
        return self._carry_out(decision, claim, order)

    def _refused_unless_found(self, claim: Claim, order: Order, refused: Decision, left: Clock) -> MoveResult:
        try:
            found = self.pos.find_order(order.uid, timeout=max(left(), 0.05))
        except PosUnavailable as exc:
            self.store.retry(
                order.uid,
                claim.token,
                by="worker",
                note=f"refused; the lookup failed: {exc}",
                delay=self._backoff(order.calls),
            )
            return MoveResult.RETRY
        if found is None or found.voided:
            return self._carry_out(refused, claim, order)
        return self._found(claim, order, found, left)

    def _carry_out(self, decision: Decision, claim: Claim, order: Order) -> MoveResult:
        """Make the order final as `decision` says; after a POST may have reached the POS, an
        errored order is looked up for RECONCILE_SECONDS (a POS that ignores not_after may
        still create it, and that late placement is voided)."""
        late_check = decision.status is Status.ERRORED and bool(order.pos_body)
        return self.finals.carry_out(
            order,
            claim.token,
            decision,
            by="worker",
            now=claim.redis_stamp,
            reconcile_in=self._backoff(0) if late_check else None,
            listed=False,
        ).result

    # -- a recorded cancel ----------------------------------------------------------------
    def cancel_now(self, uid: str, seconds: float) -> MoveResult:
        """Decide a recorded cancel now, within `seconds` (the web's budget left), unless a mover
        holds the order: then the move it hands back decides it."""
        claim = self.store.claim(Move.ORDER, uid, max(seconds, MIN_CLAIM))
        if claim.refused is not None:
            return claim.refused
        if claim.order is None or claim.order.cancel_requested_at is None:
            return MoveResult.NOT_REQUESTED
        return self._cancel(claim, claim.order)

    def _cancel(self, claim: Claim, order: Order) -> MoveResult:
        """Void by key: nothing live at the POS -> cancelled; not voidable -> placed (the truth).
        A POS that voids by its own order id cannot close a key before an order exists: a
        cancelled order there is watched for RECONCILE_SECONDS and anything it makes is voided."""
        left = partial(claim.seconds_left, MARGIN)  # counted from the claim: a move before this one used some

        try:
            result = self.pos.void_order(order.uid, "cancelled on request", timeout=max(left(), 0.05))
            found = (
                self.pos.find_order(order.uid, timeout=max(left(), 0.05)) if isinstance(result, NotVoidable) else None
            )
        except PosUnavailable as exc:
            self.store.retry(
                order.uid,
                claim.token,
                by="worker",
                note=f"cancel: the POS could not void it: {exc}",
                delay=self._backoff(order.calls),
            )
            return MoveResult.RETRY
        decision = decide.after_cancel(result, found, order.deadline)
        if decision.next is Next.RETRY or decision.status is None:
            self.store.retry(order.uid, claim.token, by="worker", note=decision.note, delay=self._backoff(order.calls))
            return MoveResult.RETRY
        watch = decision.status is Status.CANCELLED and self.pos.voids != "key"
        return self.finals.carry_out(
            order,
            claim.token,
            decision,
            by="worker",
            now=claim.redis_stamp,
            decides_cancel=True,
            reconcile_in=self._backoff(0) if watch else None,
            listed=False,
        ).result

    def _void_late(self, uid: str, found: Placed, timeout: float) -> Voided | NotVoidable | None:
        """Void a late placement; None when the POS could not answer."""
        try:
            result = self.pos.void_order(uid, "placed after its deadline", timeout=max(timeout, 0.05))
        except PosUnavailable:
            return None
        metrics.RECONCILE_FOUND.inc()
        log.error(
            "a POS order created after its deadline was found",
            extra={"request_uid": uid, "pos_order_id": found.pos_order_id, "voided": isinstance(result, Voided)},
        )
        return result

    # -- reconciliation ---------------------------------------------------------------------
    def reconcile(self, uid: str) -> MoveResult:
        """Look up an order errored after a POST may have reached the POS (pos_outcome_unknown,
        or deadline_exceeded), for RECONCILE_SECONDS past its deadline: a placement found on
        time is for on-call; one made after the deadline is voided (and listed either way)."""
        seconds = self.settings.pos_connect_timeout + self.settings.pos_read_timeout + MARGIN
        claim = self.store.claim(Move.RECONCILE, uid, seconds)
        if claim.refused is not None or claim.order is None:
            return claim.refused or MoveResult.UNREADABLE
        order = claim.order
        calls = int(self.store.field(uid, "rc_calls") or 0)
        try:
            found = self.pos.find_order(uid, timeout=claim.seconds_left(MARGIN))
        except PosUnavailable:
            self.store.settle_reconcile(uid, claim.token, outcome=MoveResult.RETRY, delay=self._backoff(calls))
            return MoveResult.RETRY
        if found is None or found.voided:
            if claim.now < order.deadline + self.settings.reconcile_seconds and order.pos_body:
                self.store.settle_reconcile(
                    uid, claim.token, outcome=MoveResult.RETRY, delay=self._backoff(calls)
                )  # may still land
                return MoveResult.RETRY
            self.store.settle_reconcile(uid, claim.token, outcome=MoveResult.ABSENT)
            return MoveResult.ABSENT
        late = decide.after_lookup(found, order.deadline, self.settings.clock_skew_seconds).next is Next.VOID
        if late or order.status == Status.CANCELLED:  # cancelled: nothing may stay live at the POS
            result = self._void_late(uid, found, claim.seconds_left(MARGIN))
            if result is None:
                self.store.settle_reconcile(uid, claim.token, outcome=MoveResult.RETRY, delay=self._backoff(calls))
                return MoveResult.RETRY
            outcome = MoveResult.VOIDED if isinstance(result, Voided) else MoveResult.FOUND
            self.store.settle_reconcile(uid, claim.token, outcome=outcome, pos_order_id=found.pos_order_id)
            return outcome
        if self.store.settle_reconcile(uid, claim.token, outcome=MoveResult.FOUND, pos_order_id=found.pos_order_id):
            metrics.RECONCILE_FOUND.inc()
            log.error(
                "order errored as pos_outcome_unknown was placed at the POS after all",
                extra={"request_uid": uid, "pos_order_id": found.pos_order_id, "status": order.status},
            )
        return MoveResult.FOUND
