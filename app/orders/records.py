"""What an order record holds and what callers see of it: pure functions."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from app import jsonio
from app.jsonio import Json
from app.orders.lifecycle import Status
from app.times import format_time, parse_time

REQUEST_FIELDS = (
    "request_uid",
    "request_type",
    "request_datetime",
    "location_id",
    "schedule_type",
    "callback_url",
    "ttl",
    "order_details",
)


def new_record(request: Json, arrived: float, totals: Json | None = None) -> Json:
    doc = {name: request.get(name) for name in REQUEST_FIELDS}
    details = dict(request["order_details"])
    for name, value in (totals or {}).items():
        details[name] = value
    doc.update(
        order_details=details, status=Status.PENDING, errors=[], received_at=format_time(arrived), completed_at=None
    )
    return doc


def fingerprint(request: Json) -> str:
    """Two submits are "the same payload" when their loaded bodies are equal."""
    ignored = ("received_at", "completed_at")
    body = {k: v for k, v in request.items() if k not in ignored}
    return hashlib.sha256(jsonio.canonical(body).encode()).hexdigest()


def view(doc: Json) -> Json:
    """The record as PAR sees it (polling, submit, callbacks): internal fields left out."""
    return {k: v for k, v in doc.items() if v is not None or k == "completed_at"}


def envelope(status: str, errors: list[Json], request: Json | None = None, **extra: object) -> Json:
    """The body of an answer that is not a stored order: validate, and every error."""
    request = request or {}
    body = {
        "request_uid": request.get("request_uid"),
        "location_id": request.get("location_id"),
        "status": status,
        "errors": errors,
    }
    if request.get("request_type"):
        body["request_type"] = request["request_type"]
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def ttl_deadline(request: Json) -> float | None:
    """The order's ttl as a Unix time (request_datetime + ttl), or None without a ttl. The
    engine caps it at ORDER_MAX_ASYNC_SECONDS after arrival, on Redis's clock (scripts.CREATE)."""
    sent = parse_time(request.get("request_datetime"))
    if request.get("ttl") and sent is not None:
        return (sent + timedelta(seconds=request["ttl"])).timestamp()
    return None
