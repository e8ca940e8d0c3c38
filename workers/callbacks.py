"""Deliver and replay callbacks, with backoff; one that never gets through is kept for replay."""

from __future__ import annotations

import random

from celery import shared_task
from flask import current_app

from app import metrics
from app.callbacks import CallbackSender
from app.logs import bind_request_uid


def sender() -> CallbackSender:
    services = current_app.extensions["posbridge"]
    return CallbackSender(services.settings, services.store)


@shared_task(bind=True, name="workers.callbacks.deliver_callback", max_retries=None, acks_late=True)
def deliver_callback(self, request_uid: str) -> str:
    bind_request_uid(request_uid)
    settings = current_app.extensions["posbridge"].settings
    send = sender()
    order = send.store.get(request_uid)
    earlier = int(((order.callback if order else None) or {}).get("attempts") or 0)  # a re-sent task counts on
    attempt = max(self.request.retries, earlier) + 1
    delivery = send.deliver(request_uid)
    given_up = not delivery.ok and (delivery.permanent or attempt >= settings.callback_max_attempts)
    countdown = min(300.0, 2.0 ** attempt) * random.uniform(0.5, 1.0)
    send.record(request_uid, delivery, attempt, given_up, retry_in=countdown)
    metrics.count_callback(send.store.redis, "delivered" if delivery.ok else ("given_up" if given_up else "failed"))
    if delivery.ok or given_up:
        return "delivered" if delivery.ok else "kept for replay"
    raise self.retry(countdown=countdown)
