"""Reading archived orders as if they were in Redis (issue 21, 3 and 4): polling, the recovery
list across both places, resubmits, the CLI, a callback replay; and the archive away."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app import jsonio
from app.archive import Archive
from app.cli import main
from tests.support.factories import sample_order


def _placed(post, uid: str, **kwargs) -> dict:
    r = post("/posnext/order/submit", sample_order(uid=uid, **kwargs))
    assert r.status_code == 200 and r.body["status"] == "placed"
    return r.body


def _poll(client, auth, uid: str):
    r = client.get(f"/posnext/orders/{uid}", headers=auth)
    return r.status_code, jsonio.loads(r.data), r.headers


def test_polling_an_archived_order_answers_it_unchanged(post, client, auth, redis_client, move):
    body = _placed(post, "p-1")
    assert move().moved == 1 and not redis_client.exists("order:p-1")
    status, answer, headers = _poll(client, auth, "p-1")
    assert status == 200 and answer == body and "Retry-After" not in headers
    assert _poll(client, auth, "p-never")[0] == 404


def test_an_archived_order_is_503_while_the_archive_is_away(post, client, auth, services, move, tmp_path):
    _placed(post, "a-1")
    _placed(post, "a-redis")
    move()
    _placed(post, "a-redis-2")
    services.store.archive = Archive(f"sqlite:///{tmp_path}/gone/archive.sqlite3", timeout=0.2)
    r = client.get("/posnext/orders/a-1", headers=auth)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert _poll(client, auth, "a-redis-2")[0] == 200  # an order in Redis needs no archive
    assert client.get("/posnext/orders?location_id=loc-001", headers=auth).status_code == 503


def test_the_recovery_list_pages_across_redis_and_the_archive_once_each(post, client, auth, move):
    uids = [f"l-{index}" for index in range(6)]
    for uid in uids[:3]:
        _placed(post, uid)
    move()  # l-0..l-2: in the archive only
    for uid in uids[3:5]:
        _placed(post, uid)

    def die(_committed):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        move(on_written=die)  # l-3, l-4: in both places
    _placed(post, uids[5])  # l-5: in Redis only
    for limit in range(1, 8):
        seen, cursor = [], None
        for _ in range(20):
            query = f"/posnext/orders?location_id=loc-001&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(query, headers=auth).json
            seen += [o["request_uid"] for o in page["orders"]]
            cursor = page["next"]
            if not cursor:
                break
        assert seen == uids, limit


def test_a_resubmit_of_an_archived_order(post, redis_client, move):
    order = sample_order(uid="re-1")
    first = post("/posnext/order/submit", order)
    move()
    again = post("/posnext/order/submit", order)
    assert again.status_code == 200 and again.body == first.body
    other = post("/posnext/order/submit", sample_order(uid="re-1", quantity=3))
    assert other.status_code == 409
    assert not redis_client.exists("order:re-1")  # never a second record under the same request_uid


def test_a_resubmit_while_the_archive_is_away_is_503(post, services, redis_client, tmp_path):
    services.store.archive = Archive(f"sqlite:///{tmp_path}/gone/archive.sqlite3", timeout=0.2)
    r = post("/posnext/order/submit", sample_order(uid="re-2"))
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert not redis_client.exists("order:re-2")


def test_the_cli_shows_an_archived_order(post, app, move, monkeypatch, tmp_path):
    _placed(post, "cli-1")
    move()
    monkeypatch.chdir(tmp_path)
    with app.app_context():
        done = CliRunner().invoke(main, ["orders", "show", "cli-1"], catch_exceptions=False)
    shown = jsonio.loads(done.output)
    assert shown["status"] == "placed" and shown["history"][0]["note"] == "received"


def test_a_callback_replay_of_an_archived_order(post, services, redis_client, archive, tasks, move):
    order = sample_order(uid="cb-1", callback_url="https://par.example/callback")
    assert post("/posnext/order/submit", order).status_code == 200
    assert move().moved == 0  # its callback is owed: it stays until it is delivered
    redis_client.hset("order:cb-1", "cb", "delivered")  # as the callback worker leaves it
    redis_client.zrem("schedule", "c:cb-1")
    move()
    assert not redis_client.exists("order:cb-1")
    replayed, why = services.service.replay_callback("cb-1", "cli/test")
    assert replayed and why == "placed"
    assert redis_client.hget("order:cb-1", "cb") == b"owed"  # restored, its callback owed again
    assert redis_client.zscore("orders:by_time", "cb-1") == archive.get("cb-1").created
    assert redis_client.zscore("orders:loc:loc-001:placed", "cb-1") == archive.get("cb-1").created
    redis_client.hset("order:cb-1", "cb", "delivered")
    move()  # moved again: the same final, the longer history
    row = archive.get("cb-1")
    assert row.status == "placed" and "callback replay requested" in row.history[-1]


def test_a_callback_given_up_on_moves_stays_listed_and_replays(
    post, app, services, redis_client, archive, move, monkeypatch, tmp_path
):
    order = sample_order(uid="dead-1", callback_url="https://par.example/callback")
    assert post("/posnext/order/submit", order).status_code == 200
    redis_client.hset("order:dead-1", mapping={"cb": "dead", "cb_result": "HTTP 500"})  # given up on
    redis_client.zadd("callbacks:dead", {"dead-1": 1.0})
    assert move().moved == 1 and not redis_client.exists("order:dead-1")
    monkeypatch.chdir(tmp_path)
    with app.app_context():
        listed = CliRunner().invoke(main, ["callbacks", "list"], catch_exceptions=False).output
    assert "dead-1" in listed and "HTTP 500" in listed  # still on on-call's list, read through
    replayed, _ = services.service.replay_callback("dead-1", "cli/test")
    assert replayed and redis_client.hget("order:dead-1", "cb") == b"owed"
    assert redis_client.zscore("callbacks:dead", "dead-1") is None


def test_the_cli_lists_recent_orders_from_both_places(post, app, move, monkeypatch, tmp_path):
    _placed(post, "recent-archived")
    move()
    _placed(post, "recent-redis")
    monkeypatch.chdir(tmp_path)
    with app.app_context():
        listed = CliRunner().invoke(main, ["orders", "list", "--minutes", "5"], catch_exceptions=False).output
    assert listed.index("recent-redis") < listed.index("recent-archived") and "2 order(s)" in listed


def test_a_status_filter_lists_archived_orders_of_that_status(post, client, auth, redis_client, move):
    _placed(post, "st-archived")
    move()
    _placed(post, "st-redis")
    placed = client.get("/posnext/orders?location_id=loc-001&status=placed&limit=1", headers=auth).json
    rest = client.get(f"/posnext/orders?location_id=loc-001&status=placed&cursor={placed['next']}", headers=auth).json
    assert [o["request_uid"] for o in placed["orders"] + rest["orders"]] == ["st-archived", "st-redis"]
    assert client.get("/posnext/orders?location_id=loc-001&status=rejected", headers=auth).json["orders"] == []
