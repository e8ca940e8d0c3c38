"""POST /posnext/orders/{orderId}/cancel, row by row of posnext-api.md's Cancel table, on the real
Flask app with fakeredis and the fake POS (void by key, not_voidable, a POST held in flight)."""

from __future__ import annotations

import time

import pytest

from app import signing
from app.orders.lifecycle import Move
from app.orders.order import fingerprint, new_record
from app.pos.base import Placed, Transient
from schemas.orders import OrderRequestSchema
from tests.conftest import SHARED_ID
from tests.support.factories import create_order, sample_order

SCHEMA = OrderRequestSchema()


@pytest.fixture
def auth(token):
    return {"Authorization": f"Bearer {token}"}


def cancel(client, auth, uid, reason=None):
    body = {} if reason is None else {"json": {"reason": reason}}
    return client.post(f"/posnext/orders/{uid}/cancel", headers=auth, **body)


def overrun(post, pos, uid="ord-1", **overrides):
    """A submit whose POST came back ambiguous: 202, handed to a worker, a POST may be at the POS."""
    pos.outcomes.append(Transient("HTTP 500"))
    response = post("/posnext/order/submit", sample_order(uid=uid, **overrides))
    assert response.status_code == 202
    return uid


def test_a_pending_order_no_post_could_have_reached_is_cancelled_at_once(client, auth, services, pos):
    request = SCHEMA.load(sample_order(uid="ord-1"))
    create_order(
        services.store,
        "ord-1",
        fingerprint(request),
        new_record(request, time.time()),
        None,
        900,
        "web",
        5,
        "menu:loc-001",
    )  # recorded; its web died before it validated it
    response = cancel(client, auth, "ord-1", "the guest changed their mind")
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert signing.verify(SHARED_ID[:10].encode(), response.json, response.headers["x-pch-digest"])
    services.redis.hset("order:ord-1", "o_until", "0")
    services.service.advance("ord-1")  # the worker that would have taken it: nothing to do
    assert [kind for kind, _ in pos.calls if kind == "place"] == []
    history = [entry["note"] for entry in services.store.history("ord-1")]
    assert "the guest changed their mind" in history


def test_a_post_that_never_made_the_order_is_cancelled_and_a_late_one_creates_nothing(
    client, auth, services, pos, post
):
    uid = overrun(post, pos)
    response = cancel(client, auth, uid)
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert uid in pos.voided  # the key is closed: a POST still in flight creates nothing
    late = pos.send_order(uid, services.store.get(uid).pos_body, timeout=1)
    assert type(late).__name__ == "VoidedKey" and uid not in pos.placed


def test_an_order_the_pos_made_is_voided_and_cancelled(client, auth, services, pos, post):
    uid = overrun(post, pos)
    pos.placed[uid] = Placed("P-000001", created_at=time.time())  # the ambiguous POST had made it
    response = cancel(client, auth, uid)
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert uid in pos.voided
    assert "pos_order_id" not in response.json["order_details"]


def test_an_order_the_pos_will_not_void_is_placed(client, auth, services, pos, post):
    uid = overrun(post, pos)
    pos.placed[uid] = Placed("P-000001", created_at=time.time())
    pos.refuse_voids = True
    response = cancel(client, auth, uid)
    assert response.status_code == 200 and response.json["status"] == "placed"
    assert response.json["order_details"]["pos_order_id"] == "P-000001"


def test_a_cancelled_order_again_is_the_same_record(client, auth, services, pos, post):
    uid = overrun(post, pos)
    first = cancel(client, auth, uid).json
    again = cancel(client, auth, uid)
    assert again.status_code == 200 and again.json == first


def test_a_placed_order_is_not_cancellable_and_unchanged(client, auth, services, post):
    assert post("/posnext/order/submit", sample_order(uid="ord-1")).status_code == 200
    before = services.redis.hgetall("order:ord-1")
    response = cancel(client, auth, "ord-1")
    assert response.status_code == 409 and response.json["errors"][0]["code"] == "not_cancellable"
    assert "x-pch-digest" not in response.headers
    assert services.redis.hgetall("order:ord-1") == before


def test_an_unknown_order_is_404_and_a_bad_reason_400(client, auth, services, pos, post):
    assert cancel(client, auth, "never-seen").status_code == 404
    uid = overrun(post, pos)
    response = cancel(client, auth, uid, reason="x" * 201)
    assert response.status_code == 400 and services.store.get(uid).status == "pending"


def test_while_a_mover_holds_the_order_the_cancel_is_202_and_its_move_decides(client, auth, services, pos, post):
    uid = overrun(post, pos)
    services.redis.zadd("schedule", {f"o:{uid}": 0})
    held = services.store.claim(Move.ORDER, uid, 30)  # a worker is mid-move, its POST at the POS
    assert held.ok
    response = cancel(client, auth, uid)
    assert response.status_code == 202 and response.json["status"] == "pending"
    assert response.json["cancel_requested_at"] and response.headers["Location"] == f"/posnext/orders/{uid}"
    # the held move's POST made the order; its placement is refused: only the cancel decides now
    pos.placed[uid] = Placed("P-000001", created_at=time.time())
    refused = services.service.finals.finish(
        held.order, held.token, status="placed", by="worker", pos_order_id="P-000001"
    )
    assert (refused.applied, refused.status) == (False, "cancel_requested")
    services.redis.hset(f"order:{uid}", "o_until", "0")  # the held claim ends: its entry is due
    services.redis.zadd("schedule", {f"o:{uid}": 0})
    services.service.advance(uid)
    assert services.store.get(uid).status == "cancelled" and uid in pos.voided
    listed = client.get("/posnext/orders?location_id=loc-001&status=cancelled", headers=auth).json
    assert [o["request_uid"] for o in listed["orders"]] == [uid]


def test_a_cancelled_order_that_got_a_202_is_called_back(client, auth, services, pos, post, tasks):
    uid = overrun(post, pos, callback_url="https://par.example/cb")
    assert cancel(client, auth, uid).json["status"] == "cancelled"
    assert services.store.get(uid).callback == "owed" and ("deliver_callback", uid) in tasks.sent


def test_a_cancel_recorded_while_a_worker_posts_is_decided_by_that_worker(client, auth, services, pos, post):
    """The worker's POST makes the order; meanwhile the cancel is recorded (202: the worker holds
    it): the worker's placement is refused and it voids the order itself, within its claim."""
    uid = overrun(post, pos)
    services.redis.hset(f"order:{uid}", "o_until", "0")
    services.redis.zadd("schedule", {f"o:{uid}": 0})
    send = pos.send_order
    answers = []

    def send_then_cancel(key, body, timeout):
        outcome = send(key, body, timeout)
        answers.append(cancel(client, auth, uid))  # arrives while the worker's POST is at the POS
        return outcome

    pos.send_order = send_then_cancel
    services.service.advance(uid)
    assert answers[0].status_code == 202 and answers[0].json["cancel_requested_at"]
    assert services.store.get(uid).status == "cancelled" and uid in pos.voided


def test_another_method_on_the_cancel_route_is_405_with_allow(client, auth):
    response = client.get("/posnext/orders/ord-1/cancel", headers=auth)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_a_cancel_recorded_after_a_worker_took_the_order_stops_its_post(client, auth, services, pos, post, monkeypatch):
    """Issue 19: a worker that claimed a validated order before the cancel was recorded sent its
    POST anyway (the cancel landed during its durability check). Every POST now passes
    `OrderStore.may_post` just before it goes."""
    uid = overrun(post, pos)
    services.redis.hset(f"order:{uid}", "o_until", "0")  # the web's claim over: a worker's turn
    mover = services.service.mover
    real_confirm = mover.answers.confirm

    cancels: list[int] = []

    def cancel_meanwhile(order):  # the cancel arrives while the worker confirms the record
        if not cancels:  # (the cancel's own answer confirms too)
            cancels.append(0)
            cancels[0] = cancel(client, auth, uid).status_code
        return real_confirm(order)

    monkeypatch.setattr(mover.answers, "confirm", cancel_meanwhile)
    posts = len(pos.bodies)
    assert mover.move_order(uid) == "cancelled"
    assert cancels == [202]  # the worker held the claim: the cancel was recorded, not decided
    assert len(pos.bodies) == posts  # no POST after the cancel was recorded
    assert services.store.get(uid).status == "cancelled" and uid in pos.voided


def test_a_cancel_recorded_while_the_webs_validation_waits_for_the_replica_stops_its_post(
    client, auth, services, pos, post, monkeypatch
):
    """The same on the web's inline path under DURABILITY=replica: a cancel recorded while the
    validation's WAIT runs (modelled by the cancel's write queued where the WAIT is): the web
    sends nothing and hands the order on; the cancel's move voids and decides it."""
    durability = services.store.durability
    monkeypatch.setattr(durability, "waits", True)
    monkeypatch.setattr(durability, "acknowledged", lambda results: True)
    monkeypatch.setattr(durability, "confirm", lambda redis: True)
    cancels: list[str] = []

    def cancel_lands(pipe):
        if pipe.command_stack and not cancels:  # the validation's pipeline (a final's has none left)
            cancels.append("recorded")
            pipe.hset("order:ord-9", mapping={"cx": "requested", "cx_at": "1", "cx_by": "test"})

    monkeypatch.setattr(durability, "after", cancel_lands)
    response = post("/posnext/order/submit", sample_order(uid="ord-9"))
    assert cancels == ["recorded"] and response.status_code == 202 and pos.bodies == []
    monkeypatch.undo()
    assert services.service.advance("ord-9") == "cancelled" and "ord-9" in pos.voided
