"""A scripted Square for the Square adapter's tests: its answers by (method, path), a sample
Order, and what the adapter sent."""

from __future__ import annotations

import json

from app.orders.order import new_record
from tests.support.factories import sample_order

NOT_AFTER = 1_795_457_700.0
ORDER = {
    "id": "SQ-O1",
    "location_id": "loc-001",
    "reference_id": "ord-1",
    "metadata": {"request_uid": "ord-1"},
    "state": "OPEN",
    "version": 1,
    "created_at": "2026-11-23T10:00:00.000Z",
    "total_money": {"amount": 2687, "currency": "USD"},
    "fulfillments": [{"uid": "fulfillment", "type": "PICKUP", "state": "PROPOSED"}],
}


def err(code, detail="x"):
    return {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": code, "detail": detail}]}


class Square:
    """Answers by (method, path): a value, or a list of values answered in turn (the last one
    repeated); a value is (status, body[, delay])."""

    def __init__(self):
        self.answers: dict = {("GET", "/v2/locations"): (200, {"locations": [{"id": "loc-001"}]})}

    def __call__(self, method, path, headers, body):
        answer = self.answers.get((method, path.split("?")[0]), (404, err("NOT_FOUND")))
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer


def record(uid="ord-1"):
    return new_record(sample_order(uid=uid), 1_795_456_800.0)


def sent(server, method, path):
    return [json.loads(s["body"] or b"{}") for s in server.seen if s["method"] == method and s["path"] == path]
