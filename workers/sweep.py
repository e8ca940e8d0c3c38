"""Beat's periodic work: the sweep (hand every due move in the schedule to a worker), the menu
refresh and the retention trim. Maintenance tasks send no task events, so Flower shows the
order tasks (by request_uid) and not one sweep row every few seconds."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app.metrics import SWEEP_KEY
from app.tasks import BY_KIND, queue_depths

log = logging.getLogger(__name__)
BATCH = 1000


@shared_task(name="workers.sweep.sweep_orders", ignore_result=True, send_events=False)
def sweep_orders() -> int:
    """Send a task for every due move whose task is not already queued; record the success."""
    services = current_app.extensions["posbridge"]
    broker = services.broker_redis()  # where the queues are (a broker of its own, CELERY_BROKER_URL)
    depths = queue_depths(broker) if broker is not None else {}  # not Redis: counted as empty
    waiting = "".join(kind for kind, (_, queue) in BY_KIND.items() if depths.get(queue))
    # a task is re-sent once per claim period at most, and never while its queue still holds messages
    grace = max(services.settings.dispatch_grace, services.service.mover.claim_seconds)
    sent = 0
    while True:
        due = services.store.dispatch(BATCH, grace, waiting)
        for kind, uid in due:
            services.tasks.send(kind, uid, again=True)
        sent += len(due)
        if len(due) < BATCH:
            break
    services.redis.set(SWEEP_KEY, f"{services.store.now():.3f}")
    if sent:
        log.info("sweep sent due moves", extra={"count": sent})
    return sent


@shared_task(name="workers.sweep.refresh_menus", ignore_result=True, send_events=False)
def refresh_menus() -> dict:
    return current_app.extensions["posbridge"].menus.refresh_all()


@shared_task(name="workers.sweep.trim", ignore_result=True, send_events=False)
def trim() -> int:
    return current_app.extensions["posbridge"].store.indexes.trim()
