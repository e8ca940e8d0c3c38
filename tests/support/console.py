"""What the order console's tests share: the login, and orders as the engine writes them."""

from __future__ import annotations

import base64
import re
import time

from app.orders.store import DEAD_KEY, OrderStore
from tests.support.factories import create_order

USER, PASSWORD = "oncall", "console-password-0123456789"


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Browser:
    """The test client with the login, and the CSRF token read from the page, as a browser posts."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=basic(), **kwargs)

    def confirm(self, path: str):
        """GET the confirmation page, then POST its form with the token it carries."""
        page = self.get(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return self.client.post(path, data={"csrf_token": token}, headers=basic())


def order_with(services, uid: str, location: str = "loc-001", status: str | None = None, errors=None, **doc):
    """An order as the engine writes one: open (nobody holds it), or made final with `status`."""
    store: OrderStore = services.store
    body = {
        "request_uid": uid,
        "location_id": location,
        "status": "pending",
        "request_type": "place-order",
        "order_details": {},
        "errors": [],
        **doc,
    }
    _, token = create_order(store, uid, "fp", body, None, 60, "web", 5 if status else 0.001, "menu:none")
    time.sleep(0.01)
    if status:
        applied, why, *_ = store.finish(
            uid,
            token,
            doc={**body, "status": status, "errors": errors or []},
            by="worker",
            note="POS refused: item_unavailable" if status == "rejected" else status,
        )
        assert applied, why
    return body


def given_up(services, uid: str, result: str) -> None:
    """The callback as the engine leaves one it gave up on: in callbacks:dead with its last result."""
    services.redis.zadd(DEAD_KEY, {uid: time.time()})
    services.redis.hset(f"order:{uid}", mapping={"cb_result": result, "cb": "dead"})
