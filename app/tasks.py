"""Enqueueing work for the workers, by task name: ids only, never payloads or secrets.

State is always committed before this is called; if the broker is down the order stays
open in Redis and the periodic sweep enqueues it again.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PLACE_ORDER = "workers.orders.place_order"
DELIVER_CALLBACK = "workers.callbacks.deliver_callback"
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}
QUEUES = ("orders", "callbacks", "maintenance")  # app.celery_config routes every task to one of these


def queue_depths(redis) -> dict[str, int]:
    """Messages waiting in each Celery queue (a Redis list per queue on the Redis broker)."""
    return {queue: int(redis.llen(queue)) for queue in QUEUES}


class CeleryTasks:
    def __init__(self, celery):
        self.celery = celery

    def _send(self, name: str, uid: str, countdown: float | None = None, queue: str = "orders") -> bool:
        try:
            self.celery.send_task(name, args=[uid], countdown=countdown, queue=queue,
                                  retry=True, retry_policy=PUBLISH_RETRY)
            return True
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweep recovers all
            log.warning("enqueue failed; the sweep will pick the order up",
                        extra={"request_uid": uid, "task": name, "error": type(exc).__name__})
            return False

    def place_order(self, uid: str, countdown: float | None = None) -> bool:
        return self._send(PLACE_ORDER, uid, countdown)

    def deliver_callback(self, uid: str, countdown: float | None = None) -> bool:
        return self._send(DELIVER_CALLBACK, uid, countdown, queue="callbacks")
