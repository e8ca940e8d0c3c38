"""Issue 18's findings (engine v3), one test each, on fakeredis and the real Flask app; each
names its finding in its docstring. The real-process ones are in tests/integration."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal

import fakeredis
import pytest
import redis

from app.callbacks import CallbackSender
from app.orders.answers import NotDurable
from app.orders.durability import Durability
from app.orders.lifecycle import Move
from app.orders.order import fingerprint, new_record
from app.pos.base import KeyUsed, Placed, Transient
from schemas.orders import OrderRequestSchema
from tests.support.factories import create_order, sample_order

SCHEMA = OrderRequestSchema()


@pytest.fixture
def env(env):
    return {**env, "CALLBACK_ALLOW_PRIVATE": "true"}


def submit(services, uid="ord-1", **overrides):
    request = SCHEMA.load(sample_order(uid=uid, **overrides))
    return services.service.submit(request, time.monotonic())


def replica(services, monkeypatch, acknowledged: bool) -> Durability:
    """DURABILITY=replica on fakeredis: WAIT answers `acknowledged` (fakeredis has no replicas)."""
    durability = Durability("replica", 1, 10)
    monkeypatch.setattr(durability, "after", lambda pipe: pipe.exists("durability:probe"))
    monkeypatch.setattr(durability, "acknowledged", lambda results: acknowledged)
    monkeypatch.setattr(durability, "confirm", lambda client: acknowledged)
    services.store.durability = durability
    services.service.answers.durability = durability
    return durability


def test_the_pos_request_is_built_once_and_our_own_key_reused_is_looked_up_not_rejected(services):
    """Finding 1: an unknown order_details field holding 12345678901234567.5 was written into the
    web's POST from memory and into the worker's from the stored record, differently; the POS
    answered the second `idempotency_key_reused`, read as `rejected` while it held the order.
    Now every POST sends the bytes stored when the order was validated, and KeyUsed is a lookup."""
    pos = services.pos
    pos.outcomes.extend([Transient("HTTP 500")])  # the web's POST created it, and came back ambiguous
    request = sample_order(uid="ord-1")
    request["order_details"]["x_big"] = Decimal("12345678901234567.5")
    status, body = services.service.submit(SCHEMA.load(request), time.monotonic())
    assert (status, body["status"]) == (202, "pending")
    pos.placed["ord-1"] = Placed("P-000001")  # it was created after all
    pos.outcomes.extend([KeyUsed()])
    services.redis.hset("order:ord-1", "o_until", "0")
    services.redis.zadd("schedule", {"o:ord-1": 0})
    services.service.advance("ord-1")
    order = services.store.get("ord-1")
    assert order.status == "placed" and order.doc["order_details"]["pos_order_id"] == "P-000001"
    assert len(pos.bodies) == 2 and pos.bodies[0] == pos.bodies[1] == ("ord-1", order.pos_body)


def test_the_recovery_list_never_answers_a_final_not_confirmed_durable(services, monkeypatch, client, token):
    """Finding 2: under DURABILITY=replica the recovery list answered a final that no replica had
    acknowledged (polling did confirm; the list did not)."""
    services.pos.outcomes.extend([Transient("HTTP 503")])
    assert submit(services)[0] == 202
    replica(services, monkeypatch, acknowledged=False)
    services.redis.hset("order:ord-1", "o_until", "0")
    services.redis.zadd("schedule", {"o:ord-1": 0})
    services.service.advance("ord-1")
    assert services.store.get("ord-1").status == "placed"
    listed = client.get("/posnext/orders?location_id=loc-001", headers={"Authorization": f"Bearer {token}"}).json
    assert [o["status"] for o in listed["orders"]] == ["pending"]
    assert "pos_order_id" not in listed["orders"][0]["order_details"]


def test_no_pos_call_and_a_503_when_the_record_is_not_confirmed_durable(services, monkeypatch, post, order):
    """Finding 3: under DURABILITY=replica CREATE and the hand-off were answered (202) without a
    replica's acknowledgement, and the POS was called: a failover lost an order the POS held."""
    replica(services, monkeypatch, acknowledged=False)
    response = post("/posnext/order/submit", order(uid="ord-1"))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert [kind for kind, _ in services.pos.calls if kind == "place"] == []


def test_a_202_is_answered_only_with_the_record_confirmed_and_then_needs_no_fresh_wait(services, monkeypatch):
    """Finding 3 and 11: the 202 waits for the replica as a final does, and what was confirmed is
    recorded with the write: a replica lost later does not turn an answered state back."""
    services.pos.outcomes.extend([Transient("HTTP 503")])
    durability = replica(services, monkeypatch, acknowledged=True)
    assert submit(services)[0] == 202
    services.redis.hset("order:ord-1", "o_until", "0")
    services.redis.zadd("schedule", {"o:ord-1": 0})
    services.service.advance("ord-1")
    assert services.service.answer("ord-1")[1]["status"] == "placed"
    monkeypatch.setattr(durability, "confirm", lambda client: False)  # no replica left now
    assert services.service.answer("ord-1")[1]["status"] == "placed"


class Trickle(threading.Thread):
    """An HTTP receiver that answers 200 a byte at a time, `gap` seconds apart."""

    def __init__(self, gap: float):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.gap = gap

    def run(self):
        connection, _ = self.sock.accept()
        connection.recv(65536)
        self.sent = 0
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
            try:
                connection.sendall(bytes([byte]))
            except OSError:  # the sender hung up (reset, or a broken pipe)
                self.hung_up = True
                return
            self.sent += 1
            time.sleep(self.gap)
            try:  # the sender hung up: its FIN reads as b"" here
                connection.setblocking(False)
                if connection.recv(1) == b"":
                    self.hung_up = True
                    return
            except BlockingIOError:
                pass
            except OSError:
                self.hung_up = True
                return
            finally:
                connection.setblocking(True)
        connection.close()


def test_a_callback_delivery_is_bounded_as_a_whole_not_per_read(services, settings):
    """Finding 4: requests' timeouts are per socket read, so a receiver trickling its answer
    kept a sender in its call past its claim, and the sweep's second sender delivered too."""
    receiver = Trickle(gap=0.1)  # 38 bytes: about 4 s in all, each read well inside any per-read timeout
    receiver.start()
    bounded = settings.__class__(**{**settings.__dict__, "callback_timeout_seconds": 1.0})
    sender = CallbackSender(bounded, services.store)
    request = sample_order(uid="ord-cb", callback_url=f"http://127.0.0.1:{receiver.port}/cb")
    order = services.store.get("ord-cb") or _final_order(services, request)
    delivery = sender.deliver(order)
    assert not delivery.ok and "no answer within 1s" in delivery.reason
    receiver.join(5)  # the sender hung up at its bound: the receiver stops long before its 38 bytes
    assert getattr(receiver, "hung_up", False) and receiver.sent < 38


def _final_order(services, request):
    loaded = SCHEMA.load(request)
    create_order(
        services.store,
        loaded["request_uid"],
        fingerprint(loaded),
        new_record(loaded, time.time()),
        None,
        900,
        "web",
        5,
        "menu:none",
    )
    claim_token = services.redis.hget(f"order:{loaded['request_uid']}", "o_claim").decode()
    services.store.finish(
        loaded["request_uid"],
        claim_token,
        doc=dict(services.store.get(loaded["request_uid"]).doc, status="placed"),
        by="worker",
        note="placed",
    )
    return services.store.get(loaded["request_uid"])


def test_a_202_from_a_resubmit_after_a_web_died_owes_the_callback(services):
    """Finding 5: a web killed after CREATE; PAR's retry was answered 202 by the duplicate path,
    which never marked the callback owed; a worker placed the order and no callback was sent."""
    request = SCHEMA.load(sample_order(uid="ord-1", callback_url="https://par.example/cb"))
    create_order(
        services.store,
        "ord-1",
        fingerprint(request),
        new_record(request, time.time()),
        None,
        900,
        "web",
        0.3,
        "menu:loc-001",
    )  # the web that recorded it died
    services.service.budget = 0.1
    status, _ = services.service.submit(request, time.monotonic())
    assert status == 202
    services.redis.hset("order:ord-1", "o_until", "0")  # its claim lapses
    services.redis.zadd("schedule", {"o:ord-1": 0})
    services.service.advance("ord-1")
    order = services.store.get("ord-1")
    assert order.status == "placed" and order.callback == "owed"
    assert ("deliver_callback", "ord-1") in services.tasks.sent


class ConfigRedis(fakeredis.FakeRedis):
    """fakeredis answering CONFIG GET and INFO replication as a configured server would."""

    def __init__(self, **config):
        super().__init__()
        self.config = config

    def config_get(self, pattern="*", *args, **kwargs):
        return {pattern: self.config[pattern]} if pattern in self.config else {}

    def info(self, section=None, *args, **kwargs):
        return {"connected_slaves": self.config.get("slaves", 0)}


@pytest.mark.parametrize(
    ("mode", "config", "named"),
    [
        ("fsync", {"appendonly": "no", "appendfsync": "always", "maxmemory-policy": "noeviction"}, "appendonly no"),
        (
            "fsync",
            {"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "volatile-lru"},
            "maxmemory-policy is volatile-lru",
        ),
        ("replica", {"maxmemory-policy": "noeviction", "slaves": 0}, "needs 1 replica"),
    ],
)
def test_the_start_up_check_names_the_setting_that_breaks_the_promise(mode, config, named):
    """Finding 6: Durability.check() was called nowhere, and nothing checked maxmemory-policy."""
    assert named in (Durability(mode).check(ConfigRedis(**config)) or "")


def test_durability_none_asks_nothing_of_the_server_but_noeviction():
    assert Durability("none").check(ConfigRedis(appendonly="no", **{"maxmemory-policy": "noeviction"})) is None


def test_the_app_factory_logs_one_error_when_durability_cannot_hold(settings, caplog, monkeypatch):
    """Finding 6: start-up says so in one ERROR line naming the setting."""
    from app import check_durability_at_start, create_app
    from app import redis_client as clients

    monkeypatch.setattr(
        clients,
        "make_client",
        lambda _settings, **_options: ConfigRedis(
            appendonly="no", appendfsync="everysec", **{"maxmemory-policy": "noeviction"}
        ),
    )
    with caplog.at_level("ERROR"):
        check_durability_at_start(create_app(settings))
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "DURABILITY=fsync" in r.getMessage()]
    assert len(errors) == 1


def test_redis_failing_after_the_order_was_recorded_is_a_202_not_a_503(services, monkeypatch):
    """Finding 7: CREATE, the POS call succeeded, then Redis blipped before the final write: 503
    while the record was pending and a worker would place it."""

    def blip(*args, **kwargs):
        raise redis.exceptions.ConnectionError("blip")

    monkeypatch.setattr(services.store, "finish", blip)
    status, body = submit(services)
    assert (status, body["status"]) == (202, "pending")
    assert services.store.get("ord-1").status == "pending"


def test_the_sweep_sends_no_second_task_while_the_first_waits_in_its_queue(services, monkeypatch):
    """Finding 8: with no worker consuming, every grace period re-sent every due move."""
    services.pos.outcomes.extend([Transient("HTTP 503")] * 20)
    for index in range(20):
        assert submit(services, uid=f"ord-{index}")[0] == 202
    store, uids = services.store, sorted(f"ord-{i}" for i in range(20))

    def sent_ago(seconds):
        now_ms = store.now() * 1000
        services.redis.zadd("schedule:queued", {f"o:{uid}": now_ms - seconds * 1000 for uid in uids})

    assert store.dispatch(100, 10.0, waiting="") == []  # the hand-off sent each task a moment ago
    sent_ago(15)  # a claim period later, the orders queue still holds them: not lost, not sent again
    assert store.dispatch(100, 10.0, waiting="o") == []
    assert sorted(uid for _, uid in store.dispatch(100, 10.0, waiting="")) == uids  # the queue is empty: lost
    sent_ago(60)  # five periods on, a queue that load keeps busy does not hide a lost task for ever
    assert sorted(uid for _, uid in store.dispatch(100, 10.0, waiting="o")) == uids


def test_the_inline_post_gets_no_more_time_than_the_deadline_leaves(services, monkeypatch):
    """Finding 9: the inline POST's time was `deadline - created.now`, not the time actually
    left: after a slow menu fetch the POST went out past not_after."""
    pos = services.pos
    slow_menu = pos.get_menu

    fetched = []

    def get_menu(location_id, timeout=None):
        time.sleep(0.5)
        menu = slow_menu(location_id, timeout)
        fetched.append(time.time())  # the POST's time is reckoned after this
        return menu

    timeouts = []
    send = pos.send_order

    def send_order(key, body, timeout):
        timeouts.append(timeout)
        return send(key, body, timeout)

    monkeypatch.setattr(pos, "get_menu", get_menu)
    monkeypatch.setattr(pos, "send_order", send_order)
    submit(services, ttl=2)
    deadline = services.store.get("ord-1").deadline
    # no more than was left once the menu was in (2 ms: the record's millisecond times); the old
    # reckoning from the record's creation gave 0.5 s more, however fast the machine
    assert fetched and timeouts and all(timeout <= deadline - fetched[-1] + 0.002 for timeout in timeouts)


def test_no_inline_post_after_the_deadline_when_the_record_s_round_trip_was_slow(services, monkeypatch):
    """Redis's clock as the web reckons it started from CREATE's TIME but counted on from when
    the answer arrived, so the round trip (a durability WAIT, a slow link) went uncounted: an
    order whose deadline passed during CREATE's answer still got its POST, after the deadline.
    Counted from before the call, the web's clock is never behind Redis's."""
    from app.times import format_time

    run = services.store._run

    def slow_answer(name, keys, args, client=None):
        result = run(name, keys, args, client=client)
        if name == "CREATE":
            time.sleep(0.6)  # the answer (after a WAIT, say) arrives 0.6 s after the script ran
        return result

    posted = []
    send = services.pos.send_order

    def send_order(key, body, timeout):
        posted.append(time.time())
        return send(key, body, timeout)

    monkeypatch.setattr(services.store, "_run", slow_answer)
    monkeypatch.setattr(services.pos, "send_order", send_order)
    # deadline = request_datetime + ttl: 0.4 s after the record is written, 0.2 s before its answer
    submit(services, ttl=1, request_datetime=format_time(time.time() - 0.6))
    deadline = services.store.get("ord-1").deadline
    assert all(at < deadline for at in posted), [round(at - deadline, 3) for at in posted]


def test_a_cancel_decided_after_a_move_gets_only_the_claim_time_the_move_left(services, monkeypatch):
    """A cancel recorded while a worker's move was under way is decided with that move's claim
    (move_order). Its void's time was counted from when the cancel began, as if the claim were
    fresh: the void could run past the claim, while another mover held the order."""
    from app.orders.lifecycle import MoveResult
    from app.orders.moves import MARGIN
    from app.pos.base import Voided
    from tests.support.factories import UID, handed_off

    handed_off(services.store, ttl=60)
    mover = services.service.mover

    def slow_move(claim, order):
        time.sleep(0.5)  # the move's POS call took half a second, then found the cancel recorded
        return MoveResult.CANCEL_REQUESTED

    timeouts = []

    def void_order(key, reason, timeout):
        timeouts.append(timeout)
        return Voided("P-1")

    monkeypatch.setattr(mover, "_move", slow_move)
    monkeypatch.setattr(services.pos, "void_order", void_order)
    mover.move_order(UID)
    assert timeouts and timeouts[0] <= mover.claim_seconds - MARGIN - 0.5, timeouts


def test_a_worker_s_completed_at_is_never_after_the_write_that_made_it_final(services, monkeypatch):
    """The other side of Redis's clock (the reliability run that followed the fix above): a
    client retry (Redis restarting) ran CLAIM 2 s after it was sent, and completed_at, counted
    from the send, came 2.2 s after the store's final transition. A time written into a record
    counts from the answer (`Claim.redis_stamp`); deadlines count from the send."""
    from app.orders.lifecycle import FINAL
    from app.times import parse_time
    from tests.support.factories import UID, handed_off

    handed_off(services.store, ttl=60)
    run = services.store._run

    def late_script(name, keys, args, client=None):
        if name == "CLAIM":
            time.sleep(0.6)  # sent, then retried: the script runs (and reads TIME) 0.6 s later
        return run(name, keys, args, client=client)

    monkeypatch.setattr(services.store, "_run", late_script)
    services.service.mover.move_order(UID)
    order = services.store.get(UID)
    final = next(e for e in services.store.history(UID) if e.get("status") in FINAL)
    completed = parse_time(order.doc["completed_at"]).timestamp()
    assert order.final and completed <= float(final["at"]) + 0.001, (completed, final["at"])


# -- finding 10: a POS that does not enforce not_after ---------------------------------------


@pytest.fixture
def late_pos(clock):
    from tests.support.fakes import FakePos

    return FakePos(clock, enforces_not_after=False)


@pytest.fixture
def late_mover(store, late_pos, menus, settings, tasks, clock):
    from app.orders.checks import OrderChecks
    from app.orders.finals import Finals
    from app.orders.moves import Mover

    menus.pos = late_pos
    return Mover(store, late_pos, OrderChecks(menus, settings), Finals(store, tasks, clock), settings)


def _late_placement(store, late_mover, late_pos, clock, refuse_voids=False):
    """Every POST times out; the POS (ignoring not_after) creates the order 8 s past its deadline."""
    from tests.support.factories import UID, handed_off, until_final

    deadline = handed_off(store, ttl=4, validated=True)
    late_pos.outcomes.extend([Transient("timeout")] * 100)
    late_pos.refuse_voids = refuse_voids
    return UID, deadline, until_final


def test_a_placement_made_after_the_deadline_is_found_by_reconciliation_and_voided(store, late_mover, late_pos, clock):
    """Finding 10: POS latency 12 s, ttl 4: the order was errored deadline_exceeded and the POS
    created it 8 s past its deadline, which nothing ever noticed."""
    uid, deadline, until_final = _late_placement(store, late_mover, late_pos, clock)
    order = until_final(store, late_mover, clock)
    assert order.status == "errored" and order.reconcile == "open"  # looked up for RECONCILE_SECONDS
    assert store.indexes.reconcile_list() == []  # watched, not on on-call's list: nothing is wrong yet
    late_pos.outcomes.clear()
    clock.now = max(clock.now, deadline + 8)
    late_pos.send_order(uid, store.get(uid).pos_body, timeout=1)  # the slow POST lands now
    assert uid in late_pos.placed
    for _ in range(100):
        due = store.next_move(uid, Move.RECONCILE)
        if due is None:
            break
        clock.now = max(clock.now, due)
        late_mover.reconcile(uid)
    assert uid in late_pos.voided and store.get(uid).status == "errored"
    assert (uid, "found") in [(u, kind) for u, kind, _ in store.indexes.reconcile_list()]


def test_the_deciding_lookup_voids_a_late_placement_or_places_one_the_pos_will_not_void(
    store, late_mover, late_pos, clock
):
    """Finding 10: found by the deciding lookup itself: voided -> errored placed_late;
    not_voidable -> placed (the truth), listed for on-call."""
    uid, deadline, _ = _late_placement(store, late_mover, late_pos, clock, refuse_voids=True)
    late_pos.outcomes.clear()
    clock.now = deadline + 0.5
    late_pos.send_order(uid, store.get(uid).pos_body, timeout=1)  # created after the deadline
    late_pos.created_at[uid] = deadline + 3
    late_pos.placed[uid] = Placed(late_pos.placed[uid].pos_order_id, created_at=deadline + 3)
    clock.now = deadline + 5
    store.redis.hset(f"order:{uid}", "o_until", "0")
    store.redis.zadd("schedule", {f"o:{uid}": 0})
    late_mover.move_order(uid)
    order = store.get(uid)
    assert order.status == "placed" and uid in [u for u, _, _ in store.indexes.reconcile_list()]


def test_a_recovery_page_probes_durability_once_however_many_orders_wait_for_it(services, monkeypatch, client, token):
    """A page of orders whose states are not confirmed costs one WAIT, not one per order."""
    services.pos.outcomes.extend([Transient("HTTP 503")] * 5)
    for index in range(5):
        assert submit(services, uid=f"ord-{index}")[0] == 202
        services.redis.hset(f"order:ord-{index}", "acked", "")  # recorded, never confirmed
    durability = replica(services, monkeypatch, acknowledged=False)
    probes = []
    monkeypatch.setattr(durability, "confirm", lambda client: probes.append(1) or False)
    listed = client.get("/posnext/orders?location_id=loc-001", headers={"Authorization": f"Bearer {token}"}).json
    assert listed["orders"] == [] and len(probes) == 1


# -- the review of engine v3 (an attack on the change, /tmp/review in its session) -------------


def test_a_record_answered_503_is_taken_back_and_never_placed(services, monkeypatch, post, order):
    """Review B5: CREATE not acknowledged -> 503 'nothing promised', yet the record stayed and a
    worker placed the order once the replica caught up."""
    replica(services, monkeypatch, acknowledged=False)
    assert post("/posnext/order/submit", order(uid="ord-1")).status_code == 503
    assert services.store.get("ord-1") is None and services.redis.zscore("schedule", "o:ord-1") is None


def test_no_post_before_the_validated_write_is_durable(services, monkeypatch):
    """Review B7: the write that stores the POS body was not waited for before the POST: a
    failover could lose it, and a worker re-validate and refuse an order the POS holds."""
    durability = replica(services, monkeypatch, acknowledged=True)
    writes = []
    monkeypatch.setattr(durability, "acknowledged", lambda results: (writes.append(1), len(writes) == 1)[1])
    services.service.budget = 0.3  # it waits out its budget for a worker, then answers
    status, _ = submit(services)  # CREATE acknowledged; the validated write is not
    assert status == 202
    assert [kind for kind, _ in services.pos.calls if kind == "place"] == []


def test_a_full_redis_after_the_order_was_recorded_is_a_202_not_a_500(services, monkeypatch):
    """Review B10: OutOfMemoryError (noeviction) was neither UNAVAILABLE nor a 503: a 500."""

    def full(*args, **kwargs):
        raise redis.exceptions.OutOfMemoryError("OOM command not allowed")

    monkeypatch.setattr(services.store, "finish", full)
    assert submit(services)[0] == 202


def test_a_duplicate_of_a_record_taken_back_is_a_503_not_a_500(services, monkeypatch):
    """The cluster run (DURABILITY=replica): concurrent duplicates saw the first request's record,
    which its creator then took back (not acknowledged): the duplicates answered 500 NotFound."""
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
    )
    services.service.budget = 0.2
    get = services.store.get
    monkeypatch.setattr(services.store, "get", lambda uid: (services.redis.delete("order:ord-1"), get(uid))[1])
    with pytest.raises(NotDurable):
        services.service.submit(request, time.monotonic())


def test_a_refusal_after_an_earlier_post_is_looked_up_first(services):
    """The 10,000-order run: the web's POST (cut at its budget, the web frozen) made the order; the
    location closed; the worker's POST under the same key was refused, and the order ended
    `rejected` while the POS held it live. A refusal after an earlier POST looks it up first."""
    from app.pos.base import Refused

    services.pos.outcomes.extend([Transient("timeout")])
    assert submit(services)[0] == 202
    services.pos.placed["ord-1"] = Placed("P-000001", created_at=time.time())  # the cut POST made it
    services.pos.outcomes.extend([Refused("location_closed", "closed")])
    services.redis.hset("order:ord-1", "o_until", "0")
    services.redis.zadd("schedule", {"o:ord-1": 0})
    services.service.advance("ord-1")
    order = services.store.get("ord-1")
    assert order.status == "placed" and order.doc["order_details"]["pos_order_id"] == "P-000001"
