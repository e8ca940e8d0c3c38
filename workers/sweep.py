"""Periodic work for beat: re-drive orders nobody is working on and re-send callbacks whose task
was lost, refresh menus, trim indexes."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from flask import current_app

from app.callbacks import overdue_at
from app.orders.recovery import due_orders

log = logging.getLogger(__name__)


@shared_task(name="workers.sweep.sweep_orders", ignore_result=True)
def sweep_orders() -> int:
    services = current_app.extensions["posbridge"]
    settings = services.settings
    now = time.time()
    due = due_orders(services.store, now, settings.inline_budget_ms / 1000.0, settings.sweep_grace)
    for uid in due:
        services.store.note(uid, "sweep", "re-driven by the sweep", next_at=now)
        services.tasks.place_order(uid)
        log.warning("sweep re-drove an order", extra={"request_uid": uid})
    lost = services.store.due_callbacks(now, overdue_at(settings, now))
    for uid in lost:
        services.tasks.deliver_callback(uid)
        log.warning("sweep re-sent a callback", extra={"request_uid": uid})
    return len(due) + len(lost)


@shared_task(name="workers.sweep.refresh_menus", ignore_result=True)
def refresh_menus() -> dict:
    services = current_app.extensions["posbridge"]
    services.store.trim()
    return services.menus.refresh_all()
