"""The store's scripts on fakeredis (Lua on): every write guarded on status and claim, one
schedule, claims decided on the store's one clock."""

from __future__ import annotations

import pytest

from app import jsonio
from app.orders.lifecycle import Move, MoveResult
from app.orders.store import OPEN_KEY, SCHEDULE_KEY, OrderStore
from tests.support.factories import create_order
from tests.support.helpers import keys

UID = "ord-1"


def doc(uid=UID, status="pending", **extra):
    return {
        "request_uid": uid,
        "location_id": "loc-001",
        "status": status,
        "order_details": {"items": []},
        "callback_url": None,
        **extra,
    }


@pytest.fixture
def created(store):
    result, token = create_order(store, UID, "fp-1", doc(), None, 900, "web", 3.0, "menu:loc-001")
    assert result.created
    return token


def test_create_records_an_open_order_claimed_by_its_creator_and_due_when_the_claim_ends(store, clock, created):
    order = store.get(UID)
    assert (order.status, order.fp, order.handed_off, order.validated, order.calls) == (
        "pending",
        "fp-1",
        False,
        False,
        0,
    )
    assert order.deadline == pytest.approx(clock.now + 900)
    assert store.next_move(UID) == pytest.approx(clock.now + 3.0)
    assert store.indexes.open_count() == 1
    assert store.history(UID)[0]["note"] == "received"


def test_create_caps_a_ttl_at_max_async_and_keeps_an_earlier_one(store, clock):
    late, _ = create_order(store, "a", "fp", doc("a"), clock.now + 5000, 900, "web", 1, "m")
    early, _ = create_order(store, "b", "fp", doc("b"), clock.now + 30, 900, "web", 1, "m")
    assert late.deadline == pytest.approx(clock.now + 900)
    assert early.deadline == pytest.approx(clock.now + 30)


def test_create_again_changes_nothing_and_says_what_is_stored(store, redis_client, created):
    before = keys(redis_client)
    again, _ = create_order(store, UID, "fp-other", doc(), None, 900, "web", 3.0, "menu:loc-001")
    assert (again.created, again.fp, again.status) == (False, "fp-1", "pending")
    assert keys(redis_client) == before


def test_create_reads_the_menu_in_the_same_round_trip(store, redis_client):
    redis_client.set("menu:loc-001", b'{"items": {}}')
    result, _ = create_order(store, UID, "fp", doc(), None, 900, "web", 1, "menu:loc-001")
    assert result.menu == b'{"items": {}}'


def test_a_claim_is_refused_while_another_is_live_and_granted_once_it_lapses(store, clock, created):
    assert store.claim(Move.ORDER, UID, 5).refused == "busy"
    clock.advance(3.1)
    claim = store.claim(Move.ORDER, UID, 5)
    assert claim.ok and claim.order.uid == UID
    assert store.next_move(UID) == pytest.approx(clock.now + 5)  # a dead mover's order is due again
    assert store.claim(Move.ORDER, UID, 5).refused == "busy"


def test_a_claim_is_refused_before_the_move_is_due(store, clock, created):
    assert store.hand_off(UID, created, by="web")
    claim = store.claim(Move.ORDER, UID, 5)
    assert store.retry(UID, claim.token, by="worker", note="POS down", delay=10.0) == pytest.approx(clock.now + 10)
    assert store.claim(Move.ORDER, UID, 5).refused == "not_due"
    clock.advance(10)
    assert store.claim(Move.ORDER, UID, 5).ok


def test_a_write_under_a_lost_claim_changes_nothing(store, redis_client, clock, created):
    clock.advance(3.1)
    taken = store.claim(Move.ORDER, UID, 5)
    before = keys(redis_client)
    assert store.finish(UID, created, doc=doc(status="placed"), by="web", note="late")[:2] == (False, "claim_lost")
    assert store.retry(UID, created, by="web", note="late", delay=1.0) == 0.0
    assert store.mark_validated(UID, created, by="web", pos_body=b"{}") == "claim_lost"
    assert not store.hand_off(UID, created, by="web")
    assert keys(redis_client) == before
    assert store.finish(UID, taken.token, doc=doc(status="placed"), by="worker", note="placed")[0]


def test_a_final_order_never_changes(store, redis_client, created):
    assert store.finish(UID, created, doc=doc(status="rejected"), by="web", note="refused")[0]
    before = keys(redis_client)
    for status in ("placed", "errored", "pending"):
        assert store.finish(UID, "", doc=doc(status=status), by="worker", note="again")[:2] == (False, "rejected")
    assert not store.hand_off(UID, "", by="worker")
    assert store.retry(UID, "", by="worker", note="x", delay=1) == 0.0
    assert store.redrive(UID, "cli") == (False, "rejected")
    assert store.claim(Move.ORDER, UID, 5).refused == "settled"
    assert keys(redis_client) == before
    assert store.get(UID).status == "rejected"


def test_finishing_takes_the_order_off_the_schedule_and_the_open_list(store, redis_client, created):
    store.finish(UID, created, doc=doc(status="placed"), by="web", note="placed")
    assert redis_client.zscore(SCHEDULE_KEY, f"o:{UID}") is None
    assert redis_client.zscore(OPEN_KEY, UID) is None
    assert store.indexes.stats() == {"submit|placed|inline": 1}


@pytest.mark.parametrize(
    "write",
    [
        "finish",
        "retry",
        "validated",
        "handoff",
        "note",
        "redrive",
        "replay",
        "claim",
        "settle_callback",
        "settle_reconcile",
    ],
)
def test_no_write_creates_or_resurrects_a_record_it_does_not_find(store, redis_client, write):
    calls = {
        "finish": lambda: store.finish("gone", "", doc=doc("gone", status="placed"), by="w", note="x"),
        "retry": lambda: store.retry("gone", "", by="w", note="x", delay=1.0),
        "validated": lambda: store.mark_validated("gone", "", by="w", pos_body=b"{}"),
        "handoff": lambda: store.hand_off("gone", "", by="w"),
        "note": lambda: store.note("gone", "w", "x"),
        "redrive": lambda: store.redrive("gone", "cli"),
        "replay": lambda: store.replay_callback("gone", "cli"),
        "claim": lambda: store.claim(Move.ORDER, "gone", 5),
        "settle_callback": lambda: store.settle_callback(
            "gone", "t", outcome=MoveResult.DELIVERED, delay=0, result_text="x"
        ),
        "settle_reconcile": lambda: store.settle_reconcile(
            "gone", "t", outcome=MoveResult.FOUND, delay=0, pos_order_id="P-1"
        ),
    }
    calls[write]()
    assert not redis_client.exists("order:gone") and not redis_client.exists("order:gone:history")
    assert store.get("gone") is None


def test_dispatch_sends_each_due_move_once_within_its_grace(store, clock, created):
    clock.advance(3.1)
    assert store.dispatch(100, grace=10) == [("o", UID)]
    assert store.dispatch(100, grace=10) == []  # its task is queued
    clock.advance(10)
    assert store.dispatch(100, grace=10) == [("o", UID)]  # the task was lost: sent again
    assert store.claim(Move.ORDER, UID, 5).ok
    assert store.dispatch(100, grace=10) == []  # claimed: due only when the claim lapses


def test_dispatch_does_not_stall_behind_queued_moves(store, clock):
    for n in range(30):
        create_order(store, f"u{n:02d}", "fp", doc(f"u{n:02d}"), None, 900, "web", 1, "m")
    clock.advance(2)
    first = store.dispatch(10, grace=60)
    second = store.dispatch(10, grace=60)
    assert len(first) == len(second) == 10 and not set(first) & set(second)


def test_redrive_makes_the_move_due_now_but_never_while_one_is_in_flight(store, clock, created):
    assert store.redrive(UID, "cli") == (False, "busy")
    clock.advance(3.1)
    claim = store.claim(Move.ORDER, UID, 5)
    store.retry(UID, claim.token, by="worker", note="POS down", delay=30)
    assert store.redrive(UID, "cli") == (True, "pending")
    assert store.next_move(UID) == pytest.approx(clock.now)
    assert store.claim(Move.ORDER, UID, 5).ok
    assert store.redrive(UID, "cli") == (False, "busy")


def test_a_callback_is_owed_once_delivered_once_and_replayed_only_on_purpose(store, clock, created):
    store.hand_off(UID, created, by="web")
    claim = store.claim(Move.ORDER, UID, 5)
    store.finish(
        UID, claim.token, doc=doc(status="placed", callback_url="https://par.example/cb"), by="worker", note="placed"
    )
    assert store.get(UID).callback == "owed"
    first = store.claim(Move.CALLBACK, UID, 10)
    assert first.ok and store.claim(Move.CALLBACK, UID, 10).refused == "busy"
    assert store.settle_callback(UID, first.token, outcome=MoveResult.DELIVERED, delay=0, result_text="HTTP 200")
    assert store.claim(Move.CALLBACK, UID, 10).refused == "settled"  # never sent again on its own
    assert not store.settle_callback(UID, first.token, outcome=MoveResult.DELIVERED, delay=0, result_text="HTTP 200")
    assert store.replay_callback(UID, "cli") == (True, "placed")
    again = store.claim(Move.CALLBACK, UID, 10)
    assert again.ok and again.order.callback_by == "cli"


def test_a_callback_given_up_is_kept_for_replay(store, clock, created):
    store.hand_off(UID, created, by="web")
    claim = store.claim(Move.ORDER, UID, 5)
    store.finish(
        UID, claim.token, doc=doc(status="errored", callback_url="https://par.example/cb"), by="worker", note="x"
    )
    cb = store.claim(Move.CALLBACK, UID, 10)
    store.settle_callback(UID, cb.token, outcome=MoveResult.DEAD, delay=0, result_text="HTTP 500")
    assert [uid for uid, _ in store.indexes.dead_callbacks()] == [UID]
    store.replay_callback(UID, "cli")
    assert store.indexes.dead_callbacks() == []


def test_a_corrupt_record_is_skipped_counted_and_never_stops_a_reader(store, redis_client, created):
    create_order(store, "ok", "fp", doc("ok"), None, 900, "web", 1, "m")
    redis_client.hset(f"order:{UID}", "doc", b"{not json")
    assert store.get(UID) is None
    assert [o.uid if o else None for o in store.get_many([UID, "ok"])] == [None, "ok"]
    assert store.indexes.corrupt_count() == 2


def test_reconcile_lists_an_unknown_outcome_until_the_pos_answers(store, clock, created):
    store.finish(UID, created, doc=doc(status="errored"), by="worker", note="pos_outcome_unknown", reconcile_in=1.0)
    assert [row[:2] for row in store.indexes.reconcile_list()] == [(UID, "open")]
    clock.advance(1)
    claim = store.claim(Move.RECONCILE, UID, 5)
    assert claim.ok
    assert store.settle_reconcile(UID, claim.token, outcome=MoveResult.FOUND, pos_order_id="P-9")
    assert [row[:2] for row in store.indexes.reconcile_list()] == [(UID, "found")]
    assert store.get(UID).status == "errored"  # the final state stands; on-call decides


def test_scripts_use_redis_time_when_no_clock_is_given(redis_client):
    store = OrderStore(redis_client)
    result, _ = create_order(store, UID, "fp", doc(), None, 60, "web", 1, "m")
    seconds, micros = redis_client.time()
    assert abs(result.now - (seconds + micros / 1e6)) < 5
    assert jsonio.loads(redis_client.hget(f"order:{UID}", "doc"))["request_uid"] == UID
