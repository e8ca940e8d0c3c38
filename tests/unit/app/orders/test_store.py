"""The order store on fakeredis with Lua: atomic creation, final states, hand-off, leases, indexes."""

from __future__ import annotations

import itertools
import threading
import time

import fakeredis
import pytest

from app.orders import records
from app.orders.store import ALL_KEY, DEAD_KEY, FINAL, OPEN_KEY, OrderStore, fingerprint
from bin.sample import sample_order

NOW = 1_795_456_800.0


@pytest.fixture
def store():
    return OrderStore(fakeredis.FakeRedis(), retention_days=30)


def create(store, uid="ord-1", location_id="loc-001", now=NOW, **overrides):
    request = sample_order(uid=uid, location_id=location_id, **overrides)
    doc = records.new_record(request, now)
    return store.create(uid, fingerprint(request), doc, now + 900, "web", now=now), doc


def finish(store, uid, status, by="test"):
    doc = dict(store.get(uid).doc, status=status)
    return store.transition(uid, doc, by, status)


def test_create_records_an_open_order(store):
    (created, fp, status), doc = create(store)
    assert (created, status) == (True, "pending")
    order = store.get("ord-1")
    assert order.doc == doc
    assert (order.fp, order.deadline, order.created) == (fp, NOW + 900, NOW)
    assert (order.handed_off, order.attempts, order.final) == (False, 0, False)
    assert [h["note"] for h in store.history("ord-1")] == ["received"]


def test_create_is_idempotent_and_keeps_the_first_record(store):
    (_, first_fp, _), first_doc = create(store)
    finish(store, "ord-1", "placed")
    (created, fp, status), _ = create(store, quantity=5)
    assert (created, fp, status) == (False, first_fp, "placed")
    assert store.get("ord-1").doc["order_details"]["items"][0]["quantity"] == 2
    assert len(store.history("ord-1")) == 2


def test_fingerprint_ignores_received_and_completed_at():
    a = sample_order(uid="ord-1")
    assert fingerprint(a) == fingerprint(dict(a, received_at="2026-01-01T00:00:00.000Z", completed_at=None))
    assert fingerprint(a) != fingerprint(dict(a, location_id="loc-002"))


@pytest.mark.parametrize("writers", list(itertools.permutations(FINAL)), ids="-".join)
def test_a_final_status_never_changes_whoever_writes_next(store, writers):
    create(store)
    results = [finish(store, "ord-1", status, by=f"writer-{i}") for i, status in enumerate(writers)]
    assert results[0] == (True, "pending", False)
    assert all(not applied and previous == writers[0] for applied, previous, _ in results[1:])
    order = store.get("ord-1")
    assert order.status == order.doc["status"] == writers[0]
    assert store.stats() == {f"submit|{writers[0]}|inline": 1}
    assert [h["status"] for h in store.history("ord-1")] == ["pending", writers[0]]


def test_concurrent_writers_make_one_final_status(store):
    create(store)
    barrier = threading.Barrier(len(FINAL))
    results = {}

    def write(status):
        doc = dict(store.get("ord-1").doc, status=status)
        barrier.wait()
        results[status] = store.transition("ord-1", doc, status, status)

    threads = [threading.Thread(target=write, args=(status,)) for status in FINAL]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    winners = [status for status, (applied, _, _) in results.items() if applied]
    assert len(results) == len(FINAL) and len(winners) == 1
    assert store.get("ord-1").status == winners[0]
    assert all(previous == winners[0] for status, (applied, previous, _) in results.items() if not applied)


@pytest.mark.parametrize("final", FINAL)
def test_an_open_write_after_a_final_one_is_refused(store, final):
    create(store)
    finish(store, "ord-1", final)
    assert finish(store, "ord-1", "pending") == (False, final, False)
    assert store.get("ord-1").status == final


def test_transition_of_an_unknown_order(store):
    assert store.transition("nope", {"status": "placed"}, "test") == (False, "", False)
    assert store.get("nope") is None


def test_only_from_limits_the_source_status(store):
    create(store)
    doc = dict(store.get("ord-1").doc, validated=True)
    assert store.transition("ord-1", dict(doc, status="cancelled"), "t", only_from=("validated",))[0] is False
    assert store.transition("ord-1", doc, "t", "validated", only_from=("pending",))[0] is True
    assert store.get("ord-1").doc["validated"] is True


def test_hand_off_then_finish_counts_a_worker_order(store):
    create(store)
    assert store.hand_off("ord-1", NOW + 5, "web") is True
    order = store.get("ord-1")
    assert (order.handed_off, order.next_at, order.status) == (True, NOW + 5, "pending")
    assert finish(store, "ord-1", "placed") == (True, "pending", True)
    assert store.stats() == {"submit|placed|worker": 1}


def test_finish_then_hand_off_loses_and_the_order_stays_inline(store):
    create(store)
    finish(store, "ord-1", "placed")
    assert store.hand_off("ord-1", NOW + 5, "web") is False
    order = store.get("ord-1")
    assert (order.handed_off, order.path, order.status) == (False, "inline", "placed")
    assert store.stats() == {"submit|placed|inline": 1}
    assert store.hand_off("missing", NOW, "web") is False


def test_final_orders_leave_the_open_index_but_stay_listed(store):
    for uid in ("ord-1", "ord-2", "ord-3"):
        create(store, uid=uid, now=NOW + int(uid[-1]))
    finish(store, "ord-2", "rejected")
    assert [uid for uid, _ in store.open_orders()] == ["ord-1", "ord-3"]
    assert store.recent(since=0) == ["ord-1", "ord-2", "ord-3"]
    assert store.recent(since=NOW + 2) == ["ord-2", "ord-3"]
    assert store.recent(since=0, limit=1) == ["ord-1"]
    assert store.oldest_open_age(now=NOW + 11) == pytest.approx(10.0)


def test_the_location_index_holds_only_its_orders(store):
    create(store, uid="a", location_id="loc-001")
    create(store, uid="b", location_id="loc-002")
    assert store.recent(location_id="loc-001") == ["a"]
    assert store.recent(location_id="loc-002") == ["b"]
    assert store.recent(location_id="loc-003") == []


def test_records_expire_after_the_retention(store):
    create(store)
    ttl = store.redis.ttl("order:ord-1")
    assert 30 * 86400 - 5 <= ttl <= 30 * 86400
    assert 30 * 86400 - 5 <= store.redis.ttl("order:ord-1:history") <= 30 * 86400


def test_trim_drops_index_entries_past_the_retention(store):
    old = NOW - 31 * 86400
    create(store, uid="old", now=old)
    create(store, uid="new", now=NOW)
    store.set_callback("old", {"state": "failed"}, dead=True)
    store.redis.zadd(DEAD_KEY, {"old": old})
    store.redis.delete("order:old")  # as its expiry would have
    removed = store.trim(now=NOW)
    assert removed == 2  # by_time and orders:loc:loc-001
    assert store.recent(since=0) == ["new"]
    assert store.recent(since=0, location_id="loc-001") == ["new"]
    assert [uid for uid, _ in store.open_orders()] == ["new"]
    assert store.dead_callbacks() == []


def test_trim_keeps_what_is_within_the_retention(store):
    create(store, uid="recent", now=NOW - 29 * 86400)
    assert store.trim(now=NOW) == 0
    assert store.redis.zcard(ALL_KEY) == 1 and store.redis.zcard(OPEN_KEY) == 1


def test_history_records_every_move_in_order(store):
    create(store)
    store.note("ord-1", "web", "POS attempt: timeout", next_at=NOW + 1)
    store.hand_off("ord-1", NOW + 2, "web")
    finish(store, "ord-1", "placed", by="worker")
    history = store.history("ord-1")
    assert [(h["status"], h["by"], h["note"]) for h in history] == [
        ("pending", "web", "received"), ("pending", "web", "POS attempt: timeout"),
        ("pending", "web", "handed to a worker"), ("placed", "worker", "placed")]
    assert store.get("ord-1").next_at == NOW + 2


def test_count_attempt(store):
    create(store)
    assert [store.count_attempt("ord-1") for _ in range(3)] == [1, 2, 3]
    assert store.get("ord-1").attempts == 3


def test_a_lease_has_one_holder(store):
    create(store)
    token = store.acquire("ord-1", 5)
    assert token
    assert store.acquire("ord-1", 5) is None
    assert 0 < store.lease_left("ord-1") <= 5
    store.release("ord-1", "someone-else")
    assert store.acquire("ord-1", 5) is None
    store.release("ord-1", token)
    assert store.lease_left("ord-1") == 0
    assert store.acquire("ord-1", 5) is not None


def test_a_lease_expires_by_itself(store):
    create(store)
    assert store.acquire("ord-1", 0.05)
    deadline = time.monotonic() + 5
    while store.lease_left("ord-1") > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.acquire("ord-1", 5) is not None


def test_callbacks_dead_and_replayed(store):
    create(store)
    store.set_callback("ord-1", {"state": "failed", "attempts": 8}, dead=True)
    assert [uid for uid, _ in store.dead_callbacks()] == ["ord-1"]
    assert store.get("ord-1").callback == {"state": "failed", "attempts": 8}
    store.set_callback("ord-1", {"state": "delivered"}, dead=False)
    assert store.dead_callbacks() == []
