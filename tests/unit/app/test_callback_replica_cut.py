"""A callback is POSTed only while a replica answers (DURABILITY=replica): found by the cluster
run's replica_cut_promoted fault, where every callback delivered while the replica was cut off
had its record ("delivered") on the primary alone, and the promoted node sent it again (29 in
one short run)."""

from __future__ import annotations

import time

import pytest

from app.callbacks import CallbackSender
from app.orders.durability import Durability
from app.orders.records import fingerprint, new_record
from schemas.orders import OrderRequestSchema
from tests.support.factories import create_order, sample_order


class Posts:
    """A session that records each POST and answers 204."""

    def __init__(self):
        self.posts: list[str] = []

    def post(self, url, **kwargs):
        self.posts.append(url)
        return type("Answer", (), {"status_code": 204, "content": b""})()

    def close(self):
        pass


def placed_with_a_callback_owed(services) -> str:
    """An order placed, its final confirmed durable (recorded with it), its callback owed."""
    request = OrderRequestSchema().load(sample_order(uid="ord-cb", callback_url="https://par.example/cb"))
    create_order(
        services.store,
        "ord-cb",
        fingerprint(request),
        new_record(request, time.time()),
        None,
        900,
        "web",
        5,
        "menu:none",
    )
    token = services.redis.hget("order:ord-cb", "o_claim").decode()
    services.store.finish(
        "ord-cb", token, doc=dict(services.store.get("ord-cb").doc, status="placed"), by="worker", note="placed"
    )
    order = services.store.get("ord-cb")
    assert order.confirmed and order.callback == "owed"
    return "ord-cb"


@pytest.mark.parametrize(("replica_answers", "posts", "outcome"), [(False, 0, "not_durable"), (True, 1, "delivered")])
def test_a_callback_is_posted_only_while_a_replica_answers(
    services, settings, monkeypatch, replica_answers, posts, outcome
):
    uid = placed_with_a_callback_owed(services)
    durability = Durability("replica", 1, 10)  # fakeredis has no replica: the probe's WAIT answers as told
    monkeypatch.setattr(durability, "confirm", lambda client: replica_answers)
    services.store.durability = durability
    session = Posts()
    sender = CallbackSender(settings, services.store, session=session)
    assert sender.move(uid) == outcome
    assert len(session.posts) == posts
    assert services.store.get(uid).callback == ("owed" if not replica_answers else "delivered")
