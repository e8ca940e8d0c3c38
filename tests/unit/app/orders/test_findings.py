"""Issue 10's findings, one test each, on fakeredis interleavings (the real-process ones are in
tests/integration/test_engine_faults.py). Each failed on the engine before v2 (lease, countdown
retries, the sweep's rules); each names its finding."""

from __future__ import annotations

import time

import pytest

from app import create_app
from app.callbacks import CallbackSender
from app.orders import backoff
from app.orders.durability import Durability
from app.orders.lifecycle import Move, MoveResult
from app.orders.moves import MARGIN
from app.pos.base import Placed, Transient
from tests.support.factories import UID, handed_off, until_final
from tests.support.helpers import keys


@pytest.fixture
def settings(settings):
    return settings.__class__(
        **{
            **settings.__dict__,
            "clock_skew_seconds": 1.0,
            "reconcile_seconds": 60,
            "retry_base_seconds": 0.5,
            "retry_cap_seconds": 30.0,
        }
    )


def test_a_pos_slower_than_the_timeouts_never_creates_the_order_after_it_was_errored(store, mover, pos, clock):
    """Issue 10, finding 1: the POST times out; the POS would create the order 8 s later, after the deadline: it
    refuses (not_after), and the deciding lookup after the deadline finds nothing."""
    deadline = handed_off(store, ttl=4, validated=True)
    late = []
    pos.outcomes.extend([Transient("timeout")] * 100)  # every POST outlives its timeout
    until_final(store, mover, clock)
    # the slow call reaches the POS's creation step now, 8 s after it was sent
    clock.now = max(clock.now, deadline + 8)
    pos.outcomes.clear()
    late.append(pos.place_order(store.get(UID).doc, not_after=deadline, timeout=1))
    assert store.get(UID).status == "errored"
    assert UID not in pos.placed and type(late[0]).__name__ == "Expired"


def test_a_frozen_holder_that_wakes_after_its_claim_changes_nothing(store, mover, pos, clock):
    """Issue 10, finding 2: the web's claim lapses while it is frozen; a worker takes the order and finishes it; the
    web wakes: its write is refused and its POST after the deadline creates nothing."""
    request_deadline = handed_off(store, ttl=6)
    web_token = store.claim(Move.ORDER, UID, 1.0).token  # what the web held (re-claimed here for the test)
    clock.advance(8)  # frozen past its claim and past the deadline
    until_final(store, mover, clock)
    assert store.get(UID).status == "errored"
    before = keys(store.redis)
    assert pos.place_order(store.get(UID).doc, not_after=request_deadline, timeout=1).__class__.__name__ == "Expired"
    assert store.finish(UID, web_token, doc=dict(store.get(UID).doc, status="placed"), by="web", note="late")[:2] == (
        False,
        "errored",
    )
    assert keys(store.redis) == before and UID not in pos.placed


def test_a_claim_outlasts_the_whole_move_it_covers(store, mover, pos, settings):
    """Issue 10, finding 3: the lease was shorter than one attempt (lookup + POST + two menu fetches). A claim now
    covers a move's every call, each bounded: no two movers call the POS at once."""
    handed_off(store)
    claim_seconds = mover.claim_seconds
    longest = settings.pos_connect_timeout + settings.pos_read_timeout
    assert claim_seconds >= 3 * longest  # menu (location + items) and one POST
    fetch = pos.get_menu

    def slow_menu(location_id, timeout=None):
        time.sleep(0.3)
        return fetch(location_id, timeout)

    pos.get_menu = slow_menu
    mover.move_order(UID)
    menu_timeout, post_timeout = pos.timeouts
    assert menu_timeout <= claim_seconds - MARGIN
    assert post_timeout <= claim_seconds - MARGIN - 0.3  # what the fetch used is not given again


def test_with_lookups_failing_an_order_is_pending_at_most_reconcile_seconds(store, mover, pos, clock):
    """Issue 10, finding 4."""
    deadline = handed_off(store, ttl=30, validated=True)
    pos.down = True
    clock.now = deadline
    order = until_final(store, mover, clock)
    assert order.doc["errors"][0]["code"] == "pos_outcome_unknown"
    assert clock.now <= deadline + 60 + 1


def test_no_write_after_a_lost_key_creates_a_record(store, redis_client):
    """Issue 10, finding 5."""
    handed_off(store)
    claim = store.claim(Move.ORDER, UID, 5)
    redis_client.delete(f"order:{UID}")  # lost: expired, or a Redis that lost its data
    store.retry(UID, claim.token, by="worker", note="POS down", delay=1)
    store.mark_validated(UID, claim.token, by="worker", pos_body=b"{}")
    store.settle_callback(UID, claim.token, outcome=MoveResult.RETRY, delay=1, result_text="HTTP 500")
    store.note(UID, "worker", "attempt")
    assert not redis_client.exists(f"order:{UID}")


def test_a_callback_is_posted_once_however_many_tasks_and_sweeps_ask(store, mover, pos, clock, settings):
    """Issue 10, finding 6."""
    handed_off(store, validated=True, callback_url="https://par.example/cb")
    mover.move_order(UID)
    posts = []

    class Session:
        def post(self, url, **kwargs):
            posts.append(url)
            return type("R", (), {"status_code": 200, "content": b""})()

    sender = CallbackSender(
        settings.__class__(**{**settings.__dict__, "callback_allow_private": True}), store, Session()
    )
    results = [sender.move(UID) for _ in range(3)]
    clock.advance(3600)
    assert store.dispatch(100, 10) == []  # the sweep has nothing to re-send
    results.append(sender.move(UID))
    assert results == ["delivered", "settled", "settled", "settled"] and len(posts) == 1


def test_a_final_state_not_yet_durable_is_not_answered_as_final(store, services, monkeypatch):
    """Issue 10, finding 7: DURABILITY=replica: a final whose write no replica acknowledged is answered pending."""
    service = services.service
    store = services.store
    handed_off(store, validated=True)
    claim = store.claim(Move.ORDER, UID, 5)
    store.durability = Durability("replica", 1, 10)
    service.answers.durability = store.durability
    monkeypatch.setattr(store.durability, "after", lambda pipe: pipe.get("no-such-key"))
    monkeypatch.setattr(store.durability, "acknowledged", lambda results: False)  # no replica acknowledges
    store.finish(UID, claim.token, doc=dict(store.get(UID).doc, status="rejected"), by="worker", note="refused")
    monkeypatch.setattr(store.durability, "confirm", lambda redis: False)
    status, body = service.answer(UID)
    assert (status, body["status"]) == (202, "pending")
    monkeypatch.setattr(store.durability, "confirm", lambda redis: True)  # the replica is back
    monkeypatch.setattr(store.durability, "acknowledged", lambda results: True)
    assert service.answer(UID)[1]["status"] == "rejected"
    monkeypatch.setattr(store.durability, "confirm", lambda redis: False)  # the replica is gone again:
    assert service.answer(UID)[1]["status"] == "rejected"  # the confirmation was recorded with the record


def test_fsync_is_what_the_embedded_redis_and_compose_run(redis_client):
    """Issue 10, finding 7: the embedded Redis runs with appendfsync always (asked of the server,
    not read from the source)."""
    import redis

    from bin.stack import EmbeddedRedis

    server = EmbeddedRedis().start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()
    finally:
        server.stop()


def test_every_kind_of_retry_backs_off_and_a_redrive_starts_no_second_chain(
    store, mover, pos, clock, settings, services
):
    """Issue 10, finding 9: POS down for a 15-minute deadline: POSTs then lookups, each counted, growing delays;
    redrives during the outage add at most one move each."""
    window = 900
    handed_off(store, ttl=window, validated=True)
    pos.down = True
    pos.outcomes.extend([Transient("connection: refused")] * 10_000)
    redrives = 0
    for step in range(5000):
        order = store.get(UID)
        if order.final:
            break
        due = store.next_move(UID)
        clock.now = max(clock.now, due)
        if step % 20 == 10:
            redrives += store.redrive(UID, "cli")[0]
        mover.move_order(UID)
    calls = pos.count("place") + pos.count("lookup")
    bound = backoff.expected_calls(window + 60, settings.retry_base_seconds, settings.retry_cap_seconds)
    assert calls <= 2 * bound + redrives
    assert len(store.history(UID)) <= calls + redrives + 10


def test_beat_keeps_its_schedule_in_redis_with_a_lock_and_needs_no_file(settings):
    """Issue 10, finding 10."""
    from bin.stack import procfile

    conf = create_app(settings).extensions["celery"].conf
    assert conf.beat_scheduler == "workers.beat:Scheduler"
    assert "--schedule" not in procfile()["beat"] and "var/" not in procfile()["beat"]


def test_the_deciding_lookup_comes_at_the_deadline_not_after_a_backoff(store, mover, pos, clock):
    """Issue 10, finding 11: POS answering 503 to everything with a long backoff grown: the move after the deadline is
    planned at deadline + skew, and the lookup then decides."""
    deadline = handed_off(store, ttl=30, validated=True)
    pos.outcomes.extend([Transient("HTTP 503")] * 100)
    store.redis.hset(f"order:{UID}", "calls", 20)  # a backoff grown to the cap (30 s)
    mover.move_order(UID)
    assert store.next_move(UID) <= deadline + 1.0
    assert until_final(store, mover, clock).status == "errored"  # lookups answer: no such order
    assert clock.now <= deadline + 1.0 + 0.5


def test_a_placement_found_by_the_deciding_lookup_is_placed(store, mover, pos, clock):
    deadline = handed_off(store, ttl=30, validated=True)
    pos.outcomes.append(Transient("timeout"))
    mover.move_order(UID)
    pos.placed[UID] = Placed("P-1")  # the timed-out call did create it, before not_after
    clock.now = deadline + 1.0
    assert until_final(store, mover, clock).status == "placed"
