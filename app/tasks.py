"""Enqueueing work for the workers, by task name: ids only, never payloads or secrets.

State is always committed before this is called. A task only asks a worker to look at an
order now; what it may do is decided by the schedule and the claim (app/orders/store.py), so
a task sent twice, late, or lost changes nothing: a lost one is sent again by the sweep once
its move is due and its grace has passed.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from app.orders.lifecycle import Move

log = logging.getLogger(__name__)

PLACE_ORDER = "workers.orders.place_order"
RECONCILE_ORDER = "workers.orders.reconcile_order"
DELIVER_CALLBACK = "workers.callbacks.deliver_callback"
BY_KIND = {
    Move.ORDER: (PLACE_ORDER, "orders"),
    Move.RECONCILE: (RECONCILE_ORDER, "orders"),
    Move.CALLBACK: (DELIVER_CALLBACK, "callbacks"),
}
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}
QUEUES = ("orders", "callbacks", "maintenance")  # app.celery_config routes every task to one of these


def queue_depths(redis) -> dict[str, int]:
    """Messages waiting in each Celery queue (a Redis list per queue on the Redis broker)."""
    return {queue: int(redis.llen(queue)) for queue in QUEUES}


@runtime_checkable
class Tasks(Protocol):
    """What the service hands work to: a task per kind of move (lifecycle.Move), True when it
    was sent (False: the sweep sends it again). CeleryTasks in the service;
    tests/support/fakes.FakeTasks in the tests."""

    def send(self, kind: Move, uid: str, again: bool = False) -> bool: ...

    def place_order(self, uid: str) -> bool: ...

    def deliver_callback(self, uid: str) -> bool: ...

    def reconcile_order(self, uid: str) -> bool: ...


class CeleryTasks:
    """Tasks sent through Celery's broker."""

    def __init__(self, celery, traces=None):
        self.celery = celery
        self.traces = traces  # app.tracing.OrderTraces when traces are on

    def send(self, kind: Move, uid: str, again: bool = False) -> bool:
        """`again`: the sweep's re-send of a due move (its trace is the order's: app/tracing.py)."""
        name, queue = BY_KIND[kind]
        try:
            if self.traces is None:
                self.celery.send_task(name, args=[uid], queue=queue, retry=True, retry_policy=PUBLISH_RETRY)
            else:
                with self.traces.sending(name, uid, again) as headers:
                    self.celery.send_task(
                        name, args=[uid], queue=queue, retry=True, retry_policy=PUBLISH_RETRY, headers=headers
                    )
            return True
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweep recovers all
            log.warning(
                "enqueue failed; the sweep will send it again",
                extra={"request_uid": uid, "task": name, "error": type(exc).__name__},
            )
            return False

    def place_order(self, uid: str) -> bool:
        return self.send(Move.ORDER, uid)

    def deliver_callback(self, uid: str) -> bool:
        return self.send(Move.CALLBACK, uid)

    def reconcile_order(self, uid: str) -> bool:
        return self.send(Move.RECONCILE, uid)
