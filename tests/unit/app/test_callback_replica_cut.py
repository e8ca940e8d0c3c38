"""A callback is POSTed only while a replica answers (DURABILITY=replica): found by the cluster
run's replica_cut_promoted fault, where every callback delivered while the replica was cut off
had its record ("delivered") on the primary alone, and the promoted node sent it again (29 in
one short run)."""

from __future__ import annotations

import time

import pytest

from app.callbacks import CallbackSender
from app.orders.durability import Durability
from app.orders.lifecycle import MoveResult
from app.orders.order import fingerprint, new_record
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


def replica(services, monkeypatch, answers: bool) -> Durability:
    """DURABILITY=replica on fakeredis (no replicas, no WAIT): the probe's WAIT answers as told."""
    durability = Durability("replica", 1, 10)
    monkeypatch.setattr(durability, "after", lambda pipe: pipe.exists("durability:probe"))
    monkeypatch.setattr(durability, "acknowledged", lambda results: answers)
    monkeypatch.setattr(durability, "confirm", lambda client: answers)
    services.store.durability = durability
    return durability


@pytest.mark.parametrize(("replica_answers", "posts", "outcome"), [(False, 0, "not_durable"), (True, 1, "delivered")])
def test_a_callback_is_posted_only_while_a_replica_answers(
    services, settings, monkeypatch, replica_answers, posts, outcome
):
    uid = placed_with_a_callback_owed(services)
    replica(services, monkeypatch, replica_answers)
    session = Posts()
    sender = CallbackSender(settings, services.store, session=session)
    assert sender.move(uid) == outcome
    assert len(session.posts) == posts
    assert services.store.get(uid).callback == ("owed" if not replica_answers else "delivered")


def test_a_mover_held_up_after_its_claim_does_not_send_a_callback_the_next_mover_delivered(
    services, settings, monkeypatch
):
    """The promise: a callback recorded delivered is never sent again. A mover held up between its
    claim and its POST (in the cluster: a Redis call waiting out the Sentinel of a host that is gone,
    ~11 s per attempt with redis-py's default retries) outlives its claim; the sweep hands the
    callback to the next mover, which delivers it and records `delivered`. The first must then
    send nothing: it checks, in the round trip of its probe's WAIT, that it still holds the claim
    and that the callback is still owed (it sent the callback a second time, with the same
    Idempotency-Key, before)."""
    uid = placed_with_a_callback_owed(services)
    replica(services, monkeypatch, True)
    session = Posts()
    first = CallbackSender(settings, services.store, session=session)
    second = CallbackSender(settings, services.store, session=session)
    taken_over: list[str] = []
    judge = first.answers.deliverable

    def held_up(order):
        # the first mover's claim lapses (its schedule entry comes due again) and the next takes over
        services.redis.hset(f"order:{uid}", "c_until", "0")
        services.redis.zadd("schedule", {f"c:{uid}": 0})
        taken_over.append(second.move(uid))
        return judge(order)

    monkeypatch.setattr(first.answers, "deliverable", held_up)
    assert first.move(uid) == "settled"
    assert taken_over == ["delivered"]
    assert len(session.posts) == 1
    assert services.store.get(uid).callback == "delivered"


def test_a_mover_whose_claim_is_about_to_lapse_does_not_post(services, settings, monkeypatch):
    """No two deliveries of one callback at once: a POST goes only while the claim runs for its
    whole bound (CALLBACK_TIMEOUT_SECONDS), so no other mover can claim the callback meanwhile."""
    uid = placed_with_a_callback_owed(services)
    replica(services, monkeypatch, True)
    session = Posts()
    sender = CallbackSender(settings, services.store, session=session)
    judge = sender.answers.deliverable

    def late(order):
        now_ms = int(services.store.now() * 1000)
        services.redis.hset(f"order:{uid}", "c_until", str(now_ms + int(sender.timeout * 1000) // 2))
        return judge(order)

    monkeypatch.setattr(sender.answers, "deliverable", late)
    assert sender.move(uid) == "claim_lapsing"
    assert session.posts == []
    assert services.store.get(uid).callback == "owed"


def test_a_delivery_whose_record_was_not_written_is_not_reported_delivered(services, settings, monkeypatch, caplog):
    """The closing write is checked: a delivery whose record was not written (its claim taken
    meanwhile) is reported UNRECORDED and logged, never `delivered` (the cluster run's
    open finding read a task's 'delivered' as the record)."""
    uid = placed_with_a_callback_owed(services)
    replica(services, monkeypatch, True)

    class Stolen(Posts):
        def post(self, url, **kwargs):
            services.redis.hset(f"order:{uid}", "c_claim", "another-mover")
            return super().post(url, **kwargs)

    session = Stolen()
    sender = CallbackSender(settings, services.store, session=session)
    with caplog.at_level("WARNING", logger="app.callbacks"):
        assert sender.move(uid) == MoveResult.UNRECORDED
    assert len(session.posts) == 1
    assert services.store.get(uid).callback == "owed"
    assert any(r.getMessage() == "callback outcome not recorded" for r in caplog.records)
