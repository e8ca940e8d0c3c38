"""The order use cases: validate, submit (inline within the budget, else a worker), status.

The web process and the workers call this one service; rules live in rules.py, records in
store.py, and the POS step in placement.py.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from app import metrics
from app.menus import NOT_READ, MenuCache, MenuUnavailable, menu_key
from app.orders import records, rules
from app.orders.placement import Placement, Step
from app.orders.store import Order, OrderStore, fingerprint

log = logging.getLogger(__name__)
POLL_SECONDS = 0.02
INLINE_RETRY_SECONDS = 0.05
_running: set[threading.Thread] = set()


class Conflict(Exception):
    """The request_uid was used with a different payload."""


class NotFound(Exception):
    pass


def wait_for_background(timeout: float) -> int:
    """Let inline POS calls that outlived their request finish (graceful shutdown)."""
    end = time.monotonic() + timeout
    for thread in list(_running):
        thread.join(max(0.0, end - time.monotonic()))
    return sum(thread.is_alive() for thread in _running)


class OrderService:
    def __init__(self, settings, store: OrderStore, menus: MenuCache, pos, tasks, clock=time.time):
        self.settings = settings
        self.store = store
        self.menus = menus
        self.tasks = tasks
        self.clock = clock
        self.placement = Placement(store, pos, settings, tasks, clock)
        self.budget = settings.inline_budget_ms / 1000.0

    # -- validate ---------------------------------------------------------------------
    def check(self, request: dict, raw=NOT_READ) -> rules.Verdict | None:
        """The rules against the cached menu; None when no menu can be had."""
        try:
            location = request["location_id"]
            menu = self.menus.get(location) if raw is NOT_READ else self.menus.get(location, raw)
        except MenuUnavailable:
            return None
        now = datetime.fromtimestamp(self.clock(), UTC)
        return rules.check_order(request, menu, now, timedelta(days=self.settings.future_horizon_days))

    def validate(self, request: dict) -> dict:
        verdict = self.check(request)
        if verdict is None:
            metrics.ORDERS.labels("validate", "errored", "inline").inc()
            return records.envelope("errored", [_menu_unavailable(request)], request)
        details = dict(request["order_details"], **verdict.totals.as_dict())
        status = "validated" if verdict.ok else "rejected"
        metrics.ORDERS.labels("validate", status, "inline").inc()
        return records.envelope(status, verdict.problems, request, order_details=details)

    # -- submit -----------------------------------------------------------------------
    def submit(self, request: dict, arrived: float) -> tuple[int, dict]:
        uid = request["request_uid"]
        deadline = records.deadline(request, arrived, self.settings.order_max_async_seconds)
        doc = records.new_record(request, arrived)
        fp = fingerprint(request)
        created, stored_fp, _, menu = self.store.create_and_get(uid, fp, doc, deadline, "web", arrived,
                                                                menu_key(request["location_id"]))
        if not created:
            if stored_fp != fp:
                raise Conflict(uid)
            return self._await(uid, arrived + self.budget)
        order = self.store.as_created(uid, fp, doc, deadline, arrived)
        if self._refusal(order, "web", menu) is not None:
            return self.answer(uid)
        # marked validated and leased in one round trip, as validate_record() then acquire would
        leased = self.store.transition_and_acquire(uid, dict(order.doc, validated=True), "web", "validated",
                                                   ("pending",), self.settings.lease_seconds)
        return self._place_inline(uid, arrived, leased)

    def validate_record(self, order: Order, by: str) -> Step | None:
        """Check a recorded order; a refusal is final. None when it may go to the POS."""
        step = self._refusal(order, by)
        if step is None:
            self.store.transition(order.uid, dict(order.doc, validated=True), by, "validated", only_from=("pending",))
        return step

    def _refusal(self, order: Order, by: str, menu=NOT_READ) -> Step | None:
        """The order against the cached menu (`menu`: its entry as already read from Redis): the
        final step of a refusal; None when it passes."""
        verdict = self.check(order.doc, menu)
        if verdict is None:
            return self.placement.errored(order, "menu_unavailable", _menu_unavailable(order.doc)["message"], by)
        if not verdict.ok:
            return self.placement.finish(order, "rejected", by, verdict.problems, note="refused by validation")
        return None

    def _place_inline(self, uid: str, arrived: float, leased: tuple | None = None) -> tuple[int, dict]:
        budget_end = arrived + self.budget
        token, order = leased if leased is not None else self.store.acquire_and_get(uid, self.settings.lease_seconds)
        if token is None:
            return self._await(uid, budget_end)
        done = threading.Event()
        result: list[Step] = []
        thread = threading.Thread(target=self._inline_attempts, args=(uid, token, budget_end, done, result, order),
                                  name=f"inline-{uid}", daemon=True)
        _running.add(thread)
        thread.start()
        done.wait(max(0.0, budget_end - self.clock()))
        if result and not result[0].retry:
            if result[0].doc is not None:  # this call wrote the final record: it is what Redis holds
                return 200, records.view(result[0].doc)
            return self.answer(uid)
        if not result:
            metrics.OVERRUNS.inc()
        if self.store.hand_off(uid, self.clock(), "web"):
            self.tasks.place_order(uid)
        return self.answer(uid)

    def _inline_attempts(self, uid, token, budget_end, done, result, order=None) -> None:
        """Attempts within the budget; the last call may outlive the request and still finish it.
        `order` is the record read with the lease, for the first attempt."""
        try:
            tries = 0
            while True:
                step = self.placement.attempt(uid, "web", order=order if tries == 0 else None)
                tries += 1
                pause = INLINE_RETRY_SECONDS * 2 ** (tries - 1)
                if not step.retry or self.clock() + pause >= budget_end:
                    break
                time.sleep(pause)
            result.append(step)
        except Exception:  # noqa: BLE001 - a crash here must not lose the order: the worker takes it
            log.exception("inline attempt failed", extra={"request_uid": uid})
            result.append(Step("pending", retry=True, reason="inline attempt failed"))
        finally:
            try:
                self.store.release(uid, token)
            finally:
                done.set()
                _running.discard(threading.current_thread())

    # -- reading ----------------------------------------------------------------------
    def _await(self, uid: str, until: float) -> tuple[int, dict]:
        """A duplicate of an order still in flight waits for it, up to its own budget."""
        while True:
            order = self.store.get(uid)
            if order is None or order.final or self.clock() + POLL_SECONDS > until:
                break
            time.sleep(POLL_SECONDS)
        return self.answer(uid)

    def answer(self, uid: str) -> tuple[int, dict]:
        order = self.store.get(uid)
        if order is None:
            raise NotFound(uid)
        return (200 if order.final else 202), records.view(order.doc)

    def advance(self, uid: str):
        """The worker's move on an order (see Placement.advance)."""
        return self.placement.advance(uid, self.validate_record)


def _menu_unavailable(request: dict) -> dict:
    return {"code": "menu_unavailable",
            "message": f"no menu for {request.get('location_id')!r} is cached and the POS cannot be reached",
            "field": "location_id"}
