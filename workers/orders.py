"""Place an order that overran the inline budget: calls the orders service, nothing else."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from app.logs import bind_request_uid


@shared_task(bind=True, name="workers.orders.place_order", max_retries=None, acks_late=True)
def place_order(self, request_uid: str) -> str:
    bind_request_uid(request_uid)
    step, countdown = current_app.extensions["posbridge"].service.advance(request_uid)
    if countdown is not None:
        raise self.retry(countdown=countdown)
    return step.status
