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
    attempt = self.request.retries + 1
    send = sender()
    delivery = send.deliver(request_uid)
    given_up = not delivery.ok and (delivery.permanent or attempt >= settings.callback_max_attempts)
    send.record(request_uid, delivery, attempt, given_up)
    metrics.CALLBACKS.labels("delivered" if delivery.ok else ("given_up" if given_up else "failed")).inc()
    if delivery.ok or given_up:
        return "delivered" if delivery.ok else "kept for replay"
    raise self.retry(countdown=min(300.0, 2.0 ** attempt) * random.uniform(0.5, 1.0))
