"""A Redis that fails over, on real redis-server processes: a primary, a replica and three
Sentinels on loopback ports (cluster/redisgroup.py), and a managed endpoint (one address, a
TCP proxy re-pointed at the new primary) whose old primary is demoted with REPLICAOF.

The store's client, gunicorn and a Celery worker (the Procfile's commands, REDIS_SENTINELS
set, REDIS_URL's host unused) follow the failover by themselves: no 5xx but 503, nothing
acknowledged lost, the worker consumes again without a restart (celery#8030, celery#6348).
"""

from __future__ import annotations

import os
import time

import pytest
import redis
import requests

from app import redis_client as clients
from app.settings import load_settings
from bin.stack import Stack, free_port, wait_for_http, wait_for_port
from cluster.celeryping import wait_for_workers
from cluster.proxy import Proxy
from cluster.redisgroup import RedisGroup
from tests.support.factories import make_token, sample_order
from tests.support.live import JWT_SECRET, POS_TOKEN, Live, live_env, wait_until

LOOP = "127.0.0.1"


def loopback(count: int) -> list[tuple[str, int, list[str]]]:
    return [(LOOP, free_port(), []) for _ in range(count)]


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    group = RedisGroup(str(tmp_path_factory.mktemp("group")), loopback(2), loopback(3))
    try:
        group.start()
    except Exception:
        group.stop()
        raise
    yield group
    group.stop()


def fail_over(group: RedisGroup) -> tuple[tuple[str, int], tuple[str, int]]:
    """SIGKILL the primary; wait for the Sentinels to promote the replica; bring the old one back
    as a replica of the new. Returns (old, new)."""
    old_node = group.primary()
    old = old_node.address
    old_node.kill()
    new = group.wait_failover(old, timeout=40)
    group.restart(old_node)
    group.wait_replicated(old_node, 30)
    return old, new


def sentinel_settings(group: RedisGroup):
    env = live_env("redis://127.0.0.1:1/0", REDIS_SENTINELS=group.sentinel_list, POS_BASE_URL="http://127.0.0.1:1")
    return load_settings(env)


def test_the_store_client_finds_the_primary_and_follows_a_failover(group):
    client = clients.make_client(sentinel_settings(group))
    client.set("before", "acknowledged")
    assert client.wait(1, 2000) == 1  # on the replica too
    old, new = None, None
    errors: list[str] = []

    def write_after():
        try:
            return client.set("after", "written")
        except redis.exceptions.ConnectionError as exc:  # MasterNotFound, refused: the 503 kind
            errors.append(type(exc).__name__)
            time.sleep(0.2)
            return False

    old_node = group.primary()
    old = old_node.address
    old_node.kill()
    wait_until(write_after, timeout=40, interval=0, message="a write on the new primary")
    new = group.primary_address()
    assert new != old
    assert client.get("before") == b"acknowledged"  # a write WAIT-acknowledged survives the failover
    assert client.connection_pool.get_master_address() == new
    group.restart(old_node)
    group.wait_replicated(old_node, 30)


def test_readonly_from_a_demoted_primary_behind_one_endpoint_is_retried_on_a_new_connection(tmp_path):
    """A managed endpoint: the name is re-pointed at the promoted node, the client's open
    connection still reaches the old one, now a replica: READONLY, reconnect, write lands."""
    group = RedisGroup(str(tmp_path), loopback(2), [])
    a, b = group.nodes
    a.launch(group._data_args(a, None))
    b.launch(group._data_args(b, a))
    proxy = Proxy((LOOP, 0), a.address).start()
    try:
        group.wait_replicated(b, 20)
        env = live_env(f"redis://{LOOP}:{proxy.listen[1]}/0", POS_BASE_URL="http://127.0.0.1:1")
        client = clients.make_client(load_settings(env))
        client.set("k", "1")
        assert proxy.accepted == 1
        # the failover: b promoted, a demoted, the endpoint names b from now on
        b.client().replicaof("NO", "ONE")
        a.client().replicaof(b.host, b.port)
        proxy.target = b.address
        with pytest.raises(redis.exceptions.ReadOnlyError):
            a.client().set("k", "direct")  # the demoted node refuses writes
        assert client.incr("k") == 2  # one call: READONLY on the old connection, retried on a new one
        assert proxy.accepted == 2
        assert b.client().get("k") == "2"
        # back again, and this time the first write is inside a Lua script (the store's writes):
        # Redis 6.2 wraps the replica's refusal as "ERR Error running script ... -READONLY"
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        assert script(keys=["k"]) == 3  # loaded on b, on this connection
        a.client().replicaof("NO", "ONE")
        b.client().replicaof(a.host, a.port)
        group.wait_replicated(b, 20)
        proxy.target = a.address
        assert script(keys=["k"]) == 4  # READONLY from b inside the script, retried on a
        assert a.client().get("k") == "4"
        # a plain client without the retry policy gets the error, as before this module existed
        proxy.target = b.address  # the replica now
        plain = redis.Redis(host=LOOP, port=proxy.listen[1])
        with pytest.raises(redis.exceptions.ReadOnlyError):
            plain.set("k", "3")
    finally:
        proxy.stop()
        group.stop()


@pytest.fixture
def stack(group, tmp_path):
    env = live_env("redis://127.0.0.1:1/0", REDIS_SENTINELS=group.sentinel_list)
    web_port, pos_port = free_port(), free_port()
    env.update(
        PORT=str(web_port),
        POSSIM_PORT=str(pos_port),
        POS_BASE_URL=f"http://{LOOP}:{pos_port}",
        ORDER_MAX_ASYNC_SECONDS="60",
    )
    stack = Stack(env, log_dir=os.path.join(tmp_path, "logs"))
    live = Live.__new__(Live)  # Live's calls (submit, knobs, wait_final) on this stack
    live.stack, live.env = stack, env
    live.base_url, live.pos_url = f"http://{LOOP}:{web_port}", f"http://{LOOP}:{pos_port}"
    live.http, live.pos, live.token = requests.Session(), requests.Session(), make_token(JWT_SECRET)
    live.pos.headers["Authorization"] = f"Bearer {POS_TOKEN}"
    try:
        stack.start("possim")
        wait_for_port(pos_port, 20, stack.processes["possim"])
        stack.start("web")
        stack.start("worker", label="worker1", WORKER_NAME="1")
        stack.start("beat")  # redbeat through the same Sentinels: the schedule's due moves
        wait_for_http(f"{live.base_url}/healthz", 60, stack.processes["web"])
        wait_for_workers(load_settings(env), 1, 60)
    except Exception:
        for label in stack.processes:
            print(f"--- {label}\n{stack.log(label)[-3000:]}")
        stack.stop_all()
        raise
    yield live
    stack.stop_all()


def submit_until_answered(live: Live, order: dict, seen: list[int], timeout: float = 60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            response = live.submit(order, timeout=15)
        except Exception:  # counted as no answer; there must be none here
            seen.append(0)
            time.sleep(0.3)
            continue
        seen.append(response.status_code)
        if response.status_code != 503:
            assert response.status_code in (200, 202), response.text
            return response
        assert response.headers.get("Retry-After")
        time.sleep(0.3)
    raise TimeoutError(f"no answer but 503 for {timeout}s: {seen}")


def test_gunicorn_and_a_celery_worker_follow_a_failover_and_consume_again_by_themselves(group, stack):
    live = stack
    placed = sample_order()
    assert live.submit(placed).status_code in (200, 202)
    before = live.wait_final(placed["request_uid"])
    assert before["status"] == "placed"

    live.knobs("*", down=True)  # what follows waits for the worker: queued before, during, after
    queued = sample_order()
    assert live.submit(queued).status_code == 202
    seen: list[int] = []
    old, new = fail_over(group)
    assert new != old
    during = sample_order()
    submit_until_answered(live, during, seen)
    live.knobs("*", down=False)

    for order in (queued, during):
        final = live.wait_final(order["request_uid"], timeout=90)
        assert final["status"] == "placed", final
        history = live_history(group, order["request_uid"])
        assert any(h["by"] == "worker" for h in history), history
    after = live.wait_final(placed["request_uid"])
    assert (after["status"], after["order_details"]["pos_order_id"]) == (
        "placed",
        before["order_details"]["pos_order_id"],
    )
    assert set(seen) <= {200, 202, 503}, seen  # never a 500, never unanswered
    ready = live.http.get(f"{live.base_url}/readyz", timeout=10)  # (appendfsync everysec: durability is not ok)
    assert ready.json()["checks"]["redis"] == ready.json()["checks"]["broker"] == "ok", ready.text

    # and a new order handed to the worker after the failover is consumed too
    live.knobs("*", latency_ms=1500)  # above INLINE_BUDGET_MS: answered 202, placed by the worker
    later = sample_order()
    assert live.submit(later).status_code == 202
    assert live.wait_final(later["request_uid"], timeout=60)["status"] == "placed"
    live.knobs("*", latency_ms=None)
    assert "Traceback" not in stack.stack.log("web")
    assert stack.stack.processes["beat"].poll() is None, stack.stack.log("beat")[-3000:]  # beat lived through it


def live_history(group: RedisGroup, uid: str) -> list[dict]:
    from app import jsonio

    client = group.primary().client()
    return [jsonio.loads(entry) for entry in client.lrange(f"order:{uid}:history", 0, -1)]
