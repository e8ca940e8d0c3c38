"""The mover: what moves, what stays, and a mover stopped or outrun at each point (issue 21, 2)."""

from __future__ import annotations

import pytest

from app import jsonio
from app.archive import Archive, ArchiveUnavailable
from app.archive.mover import FAILURES, ArchiveMover
from tests.support.factories import sample_order


def _placed(post, uid: str, **kwargs) -> dict:
    r = post("/posnext/order/submit", sample_order(uid=uid, **kwargs))
    assert r.status_code == 200 and r.body["status"] == "placed"
    return r.body


def test_a_final_moves_whole_and_leaves_redis(post, services, redis_client, archive, move):
    _placed(post, "m-1")
    before = redis_client.hgetall("order:m-1")
    history = redis_client.lrange("order:m-1:history", 0, -1)
    score = redis_client.zscore("orders:by_time", "m-1")
    assert move().moved == 1
    assert not redis_client.exists("order:m-1") and not redis_client.exists("order:m-1:history")
    assert redis_client.zscore("orders:by_time", "m-1") is None
    assert redis_client.zscore("orders:loc:loc-001", "m-1") is None
    assert redis_client.zscore("orders:loc:loc-001:placed", "m-1") is None  # the status filter's index
    row = archive.get("m-1")
    assert row.status == "placed" and row.created == score and row.location == "loc-001"
    assert row.record == {k.decode(): v.decode() for k, v in before.items() if k != b"pos_body"}
    assert row.history == [h.decode() for h in history]
    assert move().moved == 0  # nothing left to move


def test_open_recent_and_owed_orders_stay(post, services, redis_client, archive):
    _placed(post, "s-1")
    _placed(post, "s-open")
    redis_client.hset("order:s-open", mapping={"status": "pending", "acked": "pending"})  # still open
    recent = ArchiveMover(services.store, archive, after_seconds=3600).run()
    assert recent.moved == 0 and archive.get("s-1") is None  # not old enough
    redis_client.hset("order:s-1", "cb", "owed")  # a callback still to deliver
    run = ArchiveMover(services.store, archive, after_seconds=-60).run()
    assert run.moved == 0 and run.kept == 2 and run.backlog == 2
    assert redis_client.exists("order:s-1") and redis_client.exists("order:s-open")


@pytest.mark.parametrize("replica_acknowledges", [False, True])
def test_an_unconfirmed_final_stays_until_a_probe_confirms_it(
    post, services, redis_client, archive, move, monkeypatch, replica_acknowledges
):
    from app.orders.durability import Durability

    _placed(post, "u-1")
    redis_client.hset("order:u-1", "acked", "pending")  # final, never confirmed (DURABILITY=replica)
    durability = Durability("replica", 1, 10)  # fakeredis has no replica: WAIT answers as the parameter says
    monkeypatch.setattr(durability, "after", lambda pipe: pipe.exists("durability:probe"))
    monkeypatch.setattr(durability, "acknowledged", lambda results: replica_acknowledges)
    monkeypatch.setattr(durability, "confirm", lambda client: replica_acknowledges)
    services.store.durability = durability
    assert move().moved == 0 and archive.get("u-1") is None
    assert move().moved == int(replica_acknowledges)  # confirmed by the first run's probe, moved by the next


def test_a_mover_stopped_after_the_commit_leaves_the_order_in_both_places(
    post, client, auth, redis_client, archive, move
):
    body = _placed(post, "k-1")

    def die(_committed):
        raise KeyboardInterrupt  # the process ends between the archive's commit and the removals

    with pytest.raises(KeyboardInterrupt):
        move(on_written=die)
    assert redis_client.exists("order:k-1") and archive.get("k-1") is not None
    assert jsonio.loads(client.get("/posnext/orders/k-1", headers=auth).data) == body
    listed = client.get("/posnext/orders?location_id=loc-001", headers=auth).json["orders"]
    assert [o["request_uid"] for o in listed] == ["k-1"]  # in both places, listed once
    assert move().moved == 1  # the next run finds it archived and finishes
    assert not redis_client.exists("order:k-1")
    assert jsonio.loads(client.get("/posnext/orders/k-1", headers=auth).data) == body


def test_a_record_written_after_the_snapshot_is_not_removed(post, services, redis_client, archive, move):
    _placed(post, "c-1")

    def write(_committed):  # an operator's note lands between the snapshot and the removal
        services.store.note("c-1", "cli/test", "looked at it")

    run = move(on_written=write)
    assert run.moved == 0 and redis_client.exists("order:c-1")
    assert move().moved == 1
    assert "looked at it" in archive.get("c-1").history[-1]  # the second run archived the note too


def test_the_archive_away_pauses_the_move_and_nothing_leaves_redis(post, services, redis_client, tmp_path):
    _placed(post, "d-1")
    away = Archive(f"sqlite:///{tmp_path}/missing-dir/archive.sqlite3", timeout=0.2)
    failures = FAILURES.labels("move")._value.get()
    with pytest.raises(ArchiveUnavailable):
        ArchiveMover(services.store, away, after_seconds=-60).run()
    assert redis_client.exists("order:d-1")
    assert FAILURES.labels("move")._value.get() == failures + 1


def test_batches_and_every_final_once(post, redis_client, archive, move):
    for index in range(7):
        _placed(post, f"b-{index}")
    assert move(batch=3).moved == 7
    assert archive.count() == 7 and redis_client.zcard("orders:by_time") == 0


def test_retention_deletes_in_batches(post, services, archive, move):
    for index in range(5):
        _placed(post, f"r-{index}")
    move()
    mover = ArchiveMover(services.store, archive, after_seconds=-60)
    assert mover.retention(retention_seconds=3600, batch=2) == 0
    assert mover.retention(retention_seconds=-60, batch=2) == 5 and archive.count() == 0


def test_a_submit_that_missed_the_archive_just_before_the_move_makes_no_new_record(
    post, services, redis_client, archive, move, monkeypatch
):
    order = sample_order(uid="race-1")
    first = post("/posnext/order/submit", order)
    # the submit looks in the archive before the order gets there, and creates after it left Redis
    real, moves = services.store.archived, []

    def late(uid):
        missed = real(uid)
        if not moves:
            moves.append(move().moved)
        return missed

    monkeypatch.setattr(services.store, "archived", late)
    again = post("/posnext/order/submit", order)
    assert moves == [1] and again.status_code == 200 and again.body == first.body
    assert not redis_client.exists("order:race-1")
    monkeypatch.setattr(services.store, "archived", lambda uid: None)  # missed again, another payload
    assert post("/posnext/order/submit", sample_order(uid="race-1", quantity=3)).status_code == 409


def test_a_slow_archive_pauses_the_move_within_its_timeout(post, services, redis_client, archive_url, archive):
    import time

    import sqlalchemy as sa

    _placed(post, "slow-1")
    slow = Archive(archive_url, timeout=0.5)
    with archive.engine.connect() as holder:  # another session holds the table: every write waits
        if holder.dialect.name == "postgresql":
            holder.execute(sa.text("LOCK TABLE archived_orders IN ACCESS EXCLUSIVE MODE"))
        else:
            holder.exec_driver_sql("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(ArchiveUnavailable):
            ArchiveMover(services.store, slow, after_seconds=-60).run()
        assert time.monotonic() - started < 3
        holder.rollback()
    assert redis_client.exists("order:slow-1")
    slow.engine.dispose()
