"""POST /orders/void (pos-api.md) and the knobs honour_not_after and void_window_ms: a key makes
at most one order however POSTs and voids interleave, and a void closes a key a POST still
sleeping in the latency knob would otherwise use."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from possim.app import create_app
from tests.support.possim import AUTH, TOKEN, error_code, knobs, ledger, order_body


@pytest.fixture
def app():
    return create_app(TOKEN, rng=random.Random(5))


@pytest.fixture
def client(app):
    return app.test_client()


def post(client, body=None, uid="req-1"):
    return client.post("/orders", json=body or order_body(uid), headers={**AUTH, "Idempotency-Key": uid})


def void(client, uid="req-1", reason="cancelled", key=None):
    return client.post(
        "/orders/void",
        json={"external_id": uid, "reason": reason},
        headers={**AUTH, "Idempotency-Key": key if key is not None else f"void:{uid}"},
    )


def lookup(client, uid="req-1"):
    return client.get("/orders", query_string={"external_id": uid}, headers=AUTH).get_json()


def stats(client):
    return client.get("/_admin/stats", headers=AUTH).get_json()


def test_an_order_answer_carries_its_status_and_created_at(client):
    created = post(client).get_json()
    assert created["status"] == "accepted" and created["created_at"].endswith("Z")
    assert post(client).get_json() == created  # the 200 replay
    assert lookup(client) == [created]
    assert ledger(client)["orders"][0]["created_at"] == created["created_at"]


def test_a_void_voids_the_order_which_stays_in_the_ledger(client):
    created = post(client).get_json()
    voided = void(client, reason="placed late")
    assert voided.status_code == 200
    assert voided.get_json() == {"external_id": "req-1", "status": "voided", "pos_order_id": created["pos_order_id"]}
    [entry] = ledger(client)["orders"]
    assert (entry["status"], entry["void_reason"], entry["pos_order_id"]) == (
        "voided",
        "placed late",
        created["pos_order_id"],
    )
    assert lookup(client) == [dict(created, status="voided")]
    assert void(client).get_json() == voided.get_json()  # a repeat answers the same
    assert stats(client)["orders_voided"] == 1 and ledger(client)["calls"]["req-1"]["voids"] == 2


@pytest.mark.parametrize("other_body", [False, True])
def test_a_post_under_a_voided_key_is_422_voided_and_makes_nothing(client, other_body):
    post(client)
    void(client)
    response = post(client, dict(order_body(), tip=1) if other_body else None)
    assert response.status_code == 422 and error_code(response) == "voided"
    assert ledger(client)["count"] == 1


def test_a_void_before_any_order_closes_the_key(client):
    answer = void(client)
    assert answer.status_code == 200 and answer.get_json()["pos_order_id"] is None
    response = post(client)
    assert response.status_code == 422 and error_code(response) == "voided"
    assert ledger(client)["count"] == 0 and lookup(client) == []
    assert post(client, order_body("req-2"), uid="req-2").status_code == 201  # other keys are not touched


def test_a_post_held_in_the_latency_knob_when_a_void_arrives_makes_nothing(app, client):
    knobs(client, "loc-001", {"latency_ms": 400})
    held = {}
    thread = threading.Thread(target=lambda: held.update(answer=post(app.test_client())))
    thread.start()
    deadline = time.monotonic() + 5
    while stats(client)["in_progress"] == 0:
        assert time.monotonic() < deadline, "the POST never started"
        time.sleep(0.01)
    answer = void(client)
    thread.join(10)
    assert answer.status_code == 200 and answer.get_json()["pos_order_id"] is None
    assert held["answer"].status_code == 422 and error_code(held["answer"]) == "voided"
    assert ledger(client)["count"] == 0 and stats(client)["orders_created"] == 0


def test_with_void_window_0_a_held_post_is_not_voidable_and_makes_its_order(app, client):
    knobs(client, "loc-001", {"latency_ms": 300, "void_window_ms": 0})
    held = {}
    thread = threading.Thread(target=lambda: held.update(answer=post(app.test_client())))
    thread.start()
    deadline = time.monotonic() + 5
    while stats(client)["in_progress"] == 0:
        assert time.monotonic() < deadline, "the POST never started"
        time.sleep(0.01)
    answer = void(client)
    thread.join(10)
    assert answer.status_code == 409 and error_code(answer) == "not_voidable"
    assert held["answer"].status_code == 201 and ledger(client)["count"] == 1


def test_void_window_ms_past_it_the_order_is_not_voidable(client):
    knobs(client, "loc-002", {"void_window_ms": 100})
    post(client, order_body("req-a", "loc-002"), uid="req-a")
    post(client, order_body("req-b", "loc-001"), uid="req-b")
    time.sleep(0.15)
    refused = void(client, "req-a")
    assert refused.status_code == 409 and error_code(refused) == "not_voidable"
    assert "100" in refused.get_json()["error"]["message"]
    assert lookup(client, "req-a")[0]["status"] == "accepted"
    assert void(client, "req-b").status_code == 200  # loc-001 keeps the default window (300 s)
    assert knobs(client, "*", {})["effective"]["void_window_ms"] == 300_000


def test_honour_not_after_false_creates_late(client):
    late = iso(datetime.now(UTC) - timedelta(seconds=1))
    assert error_code(post(client, dict(order_body("req-x"), not_after=late), uid="req-x")) == "expired"
    knobs(client, "loc-002", {"honour_not_after": False})
    created = post(client, dict(order_body("req-y", "loc-002"), not_after=late), uid="req-y")
    assert created.status_code == 201 and created.get_json()["created_at"] > late
    entry = ledger(client)["orders"][0]
    assert (entry["external_id"], entry["not_after"]) == ("req-y", late)
    assert error_code(post(client, dict(order_body("req-z"), not_after=late), uid="req-z")) == "expired"


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("body", "key", "status", "code"),
    [
        ({"external_id": "req-1", "reason": "x"}, "", 400, "idempotency_key_missing"),
        ({"reason": "x"}, "void:req-1", 400, "invalid_body"),
        ({"external_id": "", "reason": "x"}, "void:", 400, "invalid_body"),
        ({"external_id": "req-1", "reason": 5}, "void:req-1", 400, "invalid_body"),
        (["req-1"], "void:req-1", 400, "invalid_body"),
        ({"external_id": "req-1", "reason": "x"}, "req-1", 400, "invalid_idempotency_key"),
        ({"external_id": "req-1", "reason": "x"}, "void:req-2", 400, "invalid_idempotency_key"),
    ],
)
def test_a_bad_void_is_400_and_closes_nothing(client, body, key, status, code):
    response = client.post("/orders/void", json=body, headers={**AUTH, "Idempotency-Key": key})
    assert (response.status_code, error_code(response)) == (status, code)
    assert post(client).status_code == 201


def test_a_void_needs_the_token_and_a_down_pos_answers_503(client):
    assert (
        client.post(
            "/orders/void", json={"external_id": "req-1", "reason": "x"}, headers={"Idempotency-Key": "void:req-1"}
        ).status_code
        == 401
    )
    post(client)
    knobs(client, "loc-001", {"down": True})
    assert void(client).status_code == 503
    knobs(client, "loc-001", {"down": None})
    assert lookup(client)[0]["status"] == "accepted"


def test_one_key_makes_at_most_one_order_however_posts_and_voids_interleave(app):
    """Twelve POSTs of one key and one void, the void sent ever later: whatever the void answered
    is what happened (null: nothing made, ever; an id: that order, voided), and no more POST can
    make one."""
    client = app.test_client()
    knobs(client, "*", {"latency_ms": 5, "latency_jitter_ms": 10})
    branches = set()
    for void_after in (0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.045, 0.3):
        uid = f"race-{void_after}"
        barrier = threading.Barrier(13)
        posts, voids = [], []

        def call(n, uid=uid, barrier=barrier, posts=posts, voids=voids, void_after=void_after):
            mine = app.test_client()
            barrier.wait()
            if n == 12:
                time.sleep(void_after)
                voids.append(void(mine, uid).get_json()["pos_order_id"])
            else:
                time.sleep(n * 0.002)
                posts.append(post(mine, order_body(uid), uid=uid).status_code)

        threads = [threading.Thread(target=call, args=(n,)) for n in range(13)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        made = [o for o in ledger(client)["orders"] if o["external_id"] == uid]
        assert len(made) <= 1 and set(posts) <= {201, 200, 409, 422}, posts
        [voided] = voids
        if voided is None:
            assert made == [] and 201 not in posts
        else:
            assert [(o["pos_order_id"], o["status"]) for o in made] == [(voided, "voided")] and 201 in posts
        assert post(client, order_body(uid), uid=uid).status_code == 422
        branches.add(voided is None)
    assert branches == {True, False}  # both a key closed before any order, and an order voided
