"""Deliver an owed callback (app/callbacks.py: claimed, delivered once, retried on the schedule)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from app.callbacks import CallbackSender
from app.logs import bind_request_uid


@shared_task(name="workers.callbacks.deliver_callback", ignore_result=True)
def deliver_callback(request_uid: str) -> str:
    bind_request_uid(request_uid)
    services = current_app.extensions["posbridge"]
    return CallbackSender(services.settings, services.store).move(request_uid)
