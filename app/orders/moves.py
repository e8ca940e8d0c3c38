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

import logging
import time

from app import metrics
from app.orders import backoff
from app.orders.answers import Answers
from app.orders.checks import OrderChecks, menu_unavailable
from app.orders.finals import Finals
from app.orders.lifecycle import Status
from app.orders.store import Claim, OrderStore
from app.pos.base import Expired, KeyUsed, Placed, PosAdapter, PosUnavailable, Refused, Voided, VoidedKey

log = logging.getLogger(__name__)
MARGIN = 0.5  # seconds of a claim kept free after its POS call, for the closing write


class Mover:
    def __init__(self, store: OrderStore, pos: PosAdapter, checks: OrderChecks, finals: Finals, settings,
                 answers: Answers | None = None):
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
    def move_order(self, uid: str) -> str:
        claim = self.store.claim("o", uid, self.claim_seconds)
        if not claim.ok or claim.order is None:
            metrics.WORKER_STEPS.labels(claim.reason if not claim.ok else "unreadable").inc()
            return claim.reason
        outcome = str(self._move(claim))
        metrics.WORKER_STEPS.labels(outcome).inc()
        return outcome

    def _move(self, claim: Claim):
        order, uid, token = claim.order, claim.order.uid, claim.token
        started = time.monotonic()
        skew = self.settings.clock_skew_seconds

        def now() -> float:
            return claim.now + (time.monotonic() - started)

        def left() -> float:
            return claim.until - MARGIN - now()

        def finish(*args, **kwargs):
            return self.finals.finish(*args, at=now(), **kwargs)

        def deadline_exceeded(*args):
            # after a POST may have reached the POS, it is looked up for RECONCILE_SECONDS: a POS
            # that ignores not_after may still create it, and that late placement is voided
            return self.finals.deadline_exceeded(*args, at=now(),
                                                 reconcile_in=self._backoff(0) if order.pos_body else None)

        if not self.answers.confirm(order):  # no POS call for a record that could still be lost
            self.store.retry(uid, token, "worker", "waiting for the record to be durable", self._backoff(order.calls))
            return "retry"
        if now() < order.deadline:
            body = order.pos_body or self.pos.order_body(order.doc, order.deadline)
            if not order.validated:
                verdict = self.checks.verdict(order.doc, now(), timeout=min(left(), order.deadline - now()))
                if verdict is None:
                    self.store.retry(uid, token, "worker", "no menu to validate against",
                                     self._backoff(order.calls), latest=order.deadline + skew)
                    return "retry"
                if not verdict.ok:
                    return finish(order, token, "rejected", "worker", verdict.problems,
                                              note="refused by validation")
                if not self.store.mark_validated(uid, token, "worker", body):
                    return "claim_lost"
            result = self.pos.send_order(uid, body, timeout=min(left(), order.deadline - now() + skew))
            if isinstance(result, VoidedKey):  # the key was closed by a void: never created under it
                return finish(order, token, Status.ERRORED, "worker",
                              [{"code": "voided", "message": "the POS voided this order's key: it is never created"}],
                              note="voided")
            if isinstance(result, KeyUsed):  # our own key: the POS has an order under it
                return self._decide(claim, now, left, finish, deadline_exceeded, before_deadline=True)
            if isinstance(result, Placed):
                return finish(order, token, "placed", "worker", pos_order_id=result.pos_order_id)
            if isinstance(result, Refused):
                return finish(order, token, "rejected", "worker",
                                          [{"code": result.code, "message": result.message}],
                                          note=f"POS refused: {result.code}")
            if isinstance(result, Expired):
                return deadline_exceeded(order, token, "worker", "the POS refused it past its deadline")
            reason = "in_progress" if not hasattr(result, "reason") else result.reason
            self.store.retry(uid, token, "worker", f"POS attempt: {reason}", self._backoff(order.calls),
                             latest=order.deadline + skew)
            return "retry"
        if not order.validated:
            # judged as it would have been when it arrived: an order the rules refused then (past its
            # deadline already, say) is rejected whichever path it took, never errored
            verdict = self.checks.verdict(order.doc, order.created, timeout=max(left(), 0.0))
            if verdict is not None and not verdict.ok:
                return finish(order, token, "rejected", "worker", verdict.problems,
                              note="refused by validation (as on its arrival)")
            if verdict is None:
                return finish(order, token, "errored", "worker", [menu_unavailable(order.doc)], note="menu_unavailable")
            return deadline_exceeded(order, token, "worker", "never sent to the POS before its deadline")
        if now() < order.deadline + skew - 0.001:  # the clocks' millisecond: decided now, not re-planned
            self.store.retry(uid, token, "worker", "deciding after the deadline", order.deadline + skew - now())
            return "retry"
        return self._decide(claim, now, left, finish, deadline_exceeded)

    def _decide(self, claim: Claim, now, left, finish, deadline_exceeded, before_deadline: bool = False):
        order, token = claim.order, claim.token
        try:
            found = self.pos.find_order(order.uid, timeout=left())
        except PosUnavailable as exc:
            give_up = order.deadline + self.settings.reconcile_seconds
            if now() >= give_up:
                return finish(order, token, "errored", "worker",
                                          [{"code": "pos_outcome_unknown",
                                            "message": "the POS could not say whether it has this order"}],
                                          note="pos_outcome_unknown", reconcile_in=self._backoff(0))
            self.store.retry(order.uid, token, "worker", f"lookup failed: {exc}", self._backoff(order.calls),
                             latest=give_up)
            return "retry"
        if found is not None and not found.voided:
            if not self._late(found, order.deadline):
                return finish(order, token, Status.PLACED, "worker", pos_order_id=found.pos_order_id,
                              note="found at the POS")
            voided = self._void_late(order.uid, found, left())
            if voided is None:  # the void could not be answered: decided on a later move
                self.store.retry(order.uid, token, "worker", "a late placement found; its void failed",
                                 self._backoff(order.calls))
                return "retry"
            if not voided:  # the kitchen has it: placed is the truth, listed for on-call
                self.store.list_found(order.uid)
                return finish(order, token, Status.PLACED, "worker", pos_order_id=found.pos_order_id,
                              note="placed after its deadline and not voidable: listed for on-call")
            return finish(order, token, Status.ERRORED, "worker",
                          [{"code": "placed_late", "message": "the POS created the order after its deadline; "
                                                              "it was voided"}], note="placed_late")
        if before_deadline:
            self.store.retry(order.uid, token, "worker", "POS attempt: key used, no order found yet",
                             self._backoff(order.calls), latest=order.deadline + self.settings.clock_skew_seconds)
            return "retry"
        return deadline_exceeded(order, token, "worker", "the POS has no such order after its deadline")

    def _late(self, found: Placed, deadline: float) -> bool:
        """Created after the deadline (on the POS's clock, allowing the stated skew)."""
        return found.created_at is not None and found.created_at > deadline + self.settings.clock_skew_seconds

    def _void_late(self, uid: str, found: Placed, timeout: float) -> bool | None:
        """Void a late placement: True voided, False not voidable, None the POS could not answer."""
        try:
            result = self.pos.void_order(uid, "placed after its deadline", timeout=max(timeout, 0.05))
        except PosUnavailable:
            return None
        metrics.RECONCILE_FOUND.inc()
        log.error("a POS order created after its deadline was found", extra={
            "request_uid": uid, "pos_order_id": found.pos_order_id, "voided": isinstance(result, Voided)})
        return isinstance(result, Voided)

    # -- reconciliation ---------------------------------------------------------------------
    def reconcile(self, uid: str) -> str:
        """Look up an order errored after a POST may have reached the POS (pos_outcome_unknown,
        or deadline_exceeded), for RECONCILE_SECONDS past its deadline: a placement found on
        time is for on-call; one made after the deadline is voided (and listed either way)."""
        claim = self.store.claim("r", uid, self.settings.pos_connect_timeout + self.settings.pos_read_timeout + MARGIN)
        if not claim.ok or claim.order is None:
            return claim.reason
        order = claim.order
        calls = int(self.store.field(uid, "rc_calls") or 0)
        try:
            found = self.pos.find_order(uid, timeout=claim.until - claim.now - MARGIN)
        except PosUnavailable:
            self.store.settle_reconcile(uid, claim.token, "retry", self._backoff(calls))
            return "retry"
        if found is None or found.voided:
            if claim.now < order.deadline + self.settings.reconcile_seconds and order.pos_body:
                self.store.settle_reconcile(uid, claim.token, "retry", self._backoff(calls))  # may still land
                return "retry"
            self.store.settle_reconcile(uid, claim.token, "absent")
            return "absent"
        if self._late(found, order.deadline):
            voided = self._void_late(uid, found, claim.until - self.store.now() - MARGIN)
            if voided is None:
                self.store.settle_reconcile(uid, claim.token, "retry", self._backoff(calls))
                return "retry"
            self.store.settle_reconcile(uid, claim.token, "voided" if voided else "found",
                                        pos_order_id=found.pos_order_id)
            return "voided" if voided else "found"
        if self.store.settle_reconcile(uid, claim.token, "found", pos_order_id=found.pos_order_id):
            metrics.RECONCILE_FOUND.inc()
            log.error("order errored as pos_outcome_unknown was placed at the POS after all",
                      extra={"request_uid": uid, "pos_order_id": found.pos_order_id, "status": order.status})
        return "found"
