"""An order's next move (placing it, or deciding it after its deadline) and its reconciliation:
each task calls the orders service once; the claim decides whether there is a move to make."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from app.logs import bind_request_uid


@shared_task(name="workers.orders.place_order", ignore_result=True)
def place_order(request_uid: str) -> str:
    bind_request_uid(request_uid)
    return current_app.extensions["posbridge"].service.advance(request_uid)


@shared_task(name="workers.orders.reconcile_order", ignore_result=True)
def reconcile_order(request_uid: str) -> str:
    bind_request_uid(request_uid)
    return current_app.extensions["posbridge"].service.reconcile(request_uid)
