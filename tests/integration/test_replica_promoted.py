"""Issue 18, finding 3, on real processes: under DURABILITY=replica the replica is cut off from
its primary, PAR submits meanwhile (plain orders, and orders the POS makes and then answers 500
for), the primary dies and the cut-off replica is promoted.

What PAR may see: a 200 or a 202 only for an order whose record the replica holds (read on the
replica itself at the moment of the answer), so that after the promotion every order answered
200/202 reads back (never 404) and ends placed; a 503 for what could not be made durable, whose
resubmit with the same payload ends placed exactly once at the POS (never `rejected
idempotency_key_reused` while the POS holds the order); a 202's callback delivered.

The processes: two redis-servers, the replica replicating through cluster/proxy.py as its link
(`cut()`: from then on no byte and no close crosses it, as when the cable is pulled; SIGSTOP of
the replica would not do: its kernel keeps taking the stream into the socket buffer, and the
replica applies it when resumed); gunicorn, a Celery worker, beat and the POS simulator from the
Procfile, on one endpoint (a second proxy) in front of the primary. The failover is the managed
kind (Kubernetes' Redis operators, a cloud Redis): REPLICAOF NO ONE on the replica, the endpoint
re-pointed at it, the old node back as its replica. (Sentinel re-points a replica that
replicates through a proxy at the primary itself, +fix-slave-config: the cluster harness's
`replica_cut_promoted` fault does the Sentinel failover, with the cable cut in its network
namespaces.)

ENGINE_ROOT=<a checkout> runs the stack's processes from that checkout (this test and its
helpers from this one): how the test was seen to fail on the engine before finding 3's fix.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from app.settings import load_settings
from bin.stack import Stack, free_port, wait_for_http, wait_for_port
from cluster.celeryping import wait_for_workers
from cluster.proxy import Proxy
from cluster.redisgroup import Node, RedisGroup
from tests.support.factories import make_token, sample_order
from tests.support.live import JWT_SECRET, POS_TOKEN, CallbackReceiver, Live, live_env, wait_until

LOOP = "127.0.0.1"
AMBIGUOUS = "loc-002"  # its POS makes each new order, then answers 500 (possim's ambiguous_error_rate)


class Bed:
    """The Redis pair, its link, the endpoint, the stack and PAR's callback receiver."""

    def __init__(self, directory: str):
        self.group = RedisGroup(os.path.join(directory, "redis"), [(LOOP, free_port(), []) for _ in range(2)], [])
        self.primary, self.replica = self.group.nodes
        self.directory = directory
        self.link: Proxy | None = None
        self.endpoint: Proxy | None = None
        self.live: Live | None = None
        self.receiver = CallbackReceiver()

    def start(self) -> Bed:
        self.primary.launch(self.group._data_args(self.primary, None))
        self.link = Proxy((LOOP, 0), self.primary.address).start()
        through = Node("link", LOOP, self.link.listen[1], self.replica.directory)
        self.replica.launch(self.group._data_args(self.replica, through))
        self.group.wait_replicated(self.replica, 20)
        self.endpoint = Proxy((LOOP, 0), self.primary.address).start()
        self.receiver.__enter__()
        self.live = self._stack(f"redis://{LOOP}:{self.endpoint.listen[1]}/0")
        return self

    def _stack(self, redis_url: str) -> Live:
        web_port, pos_port = free_port(), free_port()
        env = live_env(
            redis_url,
            DURABILITY="replica",
            PORT=str(web_port),
            POSSIM_PORT=str(pos_port),
            POS_BASE_URL=f"http://{LOOP}:{pos_port}",
            ORDER_MAX_ASYNC_SECONDS="90",
        )
        root = os.environ.get("ENGINE_ROOT")
        if root:
            env["PYTHONPATH"] = root
        stack = Stack(env, log_dir=os.path.join(self.directory, "logs"), **({"root": root} if root else {}))
        live = Live.__new__(Live)  # Live's calls (submit, knobs, ledger, freeze) on this stack
        live.stack, live.env = stack, env
        live.base_url, live.pos_url = f"http://{LOOP}:{web_port}", f"http://{LOOP}:{pos_port}"
        live.http, live.pos, live.token = requests.Session(), requests.Session(), make_token(JWT_SECRET)
        live.pos.headers["Authorization"] = f"Bearer {POS_TOKEN}"
        try:
            stack.start("possim")
            wait_for_port(pos_port, 20, stack.processes["possim"])
            stack.start("web")
            stack.start("worker", label="worker1", WORKER_NAME="1")
            stack.start("beat")
            wait_for_http(f"{live.base_url}/healthz", 60, stack.processes["web"])
            wait_for_workers(load_settings(env), 1, 60)
        except Exception:
            self.dump()
            raise
        return live

    def promote(self) -> None:
        """The primary dies with the cable still cut; the replica is promoted, the endpoint names
        it, and the old node (emptied) comes back as its replica."""
        self.primary.kill()
        self.replica.client().replicaof("NO", "ONE")
        self.endpoint.target = self.replica.address
        self.primary.directory = os.path.join(self.directory, "redis", "redis1-again")
        self.primary.launch(self.group._data_args(self.primary, self.replica))
        self.group.wait_replicated(self.primary, 30)

    def replica_holds(self, uid: str) -> str:
        """The order's status on the replica itself ('' when it has no record of it)."""
        return self.replica.client().hget(f"order:{uid}", "status") or ""

    def dump(self) -> None:
        if self.live:
            for label in self.live.stack.processes:
                print(f"--- {label}\n{self.live.stack.log(label)[-3000:]}")

    def stop(self) -> None:
        if self.live:
            for label in list(self.live.stack.processes):
                self.live.thaw(label)
            self.live.stack.stop_all()
        if self.receiver.thread.is_alive():  # shutdown() waits for a serve_forever that never ran
            self.receiver.__exit__()
        for proxy in (self.link, self.endpoint):
            if proxy:
                proxy.stop()
        self.group.stop()


@pytest.fixture
def bed(tmp_path):
    bed = Bed(str(tmp_path))
    try:
        bed.start()
    except Exception:
        bed.stop()
        raise
    yield bed
    bed.stop()


def test_a_replica_cut_off_then_promoted_keeps_every_answered_order_and_places_each_once(bed):
    live = bed.live
    problems: list[str] = []
    answered: dict[str, int] = {}  # uid -> the last 200/202 PAR got for it
    orders: dict[str, dict] = {}

    def note(order: dict, response: requests.Response, during_cut: bool) -> None:
        uid = order["request_uid"]
        orders[uid] = order
        if response.status_code not in (200, 202, 503):
            problems.append(f"{uid}: answered {response.status_code} {response.text[:200]}")
            return
        if response.status_code == 503:
            if not response.headers.get("Retry-After"):
                problems.append(f"{uid}: 503 without Retry-After")
            return
        answered[uid] = response.status_code
        if during_cut:  # the replica is what survives: it must hold what was just answered
            held = bed.replica_holds(uid)
            status = response.json()["status"]
            if not held or (response.status_code == 200 and held != status):
                problems.append(
                    f"{uid}: answered {response.status_code} {status} during the cut; "
                    f"the replica holds {held or 'no record'}"
                )

    live.knobs(AMBIGUOUS, ambiguous_error_rate=1)
    # 1. linked: the POS makes an order and answers 500; PAR gets 202; its worker is held until the cut
    live.freeze("worker1")
    held = sample_order(location_id=AMBIGUOUS, tax_rate="0.0600", callback_url=bed.receiver.url)
    response = live.submit(held, timeout=15)
    assert response.status_code == 202, response.text
    note(held, response, during_cut=False)
    uid = held["request_uid"]
    wait_until(
        lambda: bed.replica.client().hget(f"order:{uid}", "handed") == "1", 10, message="the hand-off on the replica"
    )

    # 2. the cable pulled; the worker places the held order on the primary alone; PAR submits
    bed.link.cut()
    live.thaw("worker1")
    plain = [sample_order() for _ in range(3)]
    made = [sample_order(location_id=AMBIGUOUS, tax_rate="0.0600", callback_url=bed.receiver.url) for _ in range(2)]
    for order in (*plain, *made):
        note(order, live.submit(order, timeout=15), during_cut=True)
    wait_until(
        lambda: bed.primary.client().hget(f"order:{uid}", "status") == "placed",
        20,
        message="the held order placed on the primary",
    )
    poll = live.get_order(uid)
    if poll.status_code == 200 and bed.replica_holds(uid) != poll.json()["status"]:
        problems.append(
            f"{uid}: polled 200 {poll.json()['status']} during the cut; the replica holds {bed.replica_holds(uid)}"
        )

    # 3. the primary dies, the cut-off replica is promoted
    bed.promote()

    # 4. what PAR sees after: every answered order reads back; PAR resubmits what got no promise
    for uid, status in answered.items():
        read = live.get_order(uid)
        if read.status_code == 404:
            problems.append(f"{uid}: answered {status} before the failover, 404 after it")
    for uid, order in orders.items():
        if uid not in answered or live.get_order(uid).status_code == 404:
            resubmit(live, order, problems)
    for uid in orders:
        final = wait_final(live, uid)
        if final != "placed":
            problems.append(f"{uid}: ended {final}")
        made_at_pos = live.ledger(uid)
        if len(made_at_pos) != 1:
            problems.append(f"{uid}: {len(made_at_pos)} orders at the POS")
    for order in (held, *made):
        uid = order["request_uid"]
        if not wait_for_callback(bed.receiver, uid):
            problems.append(f"{uid}: no callback delivered with its final")
    assert "Traceback" not in live.stack.log("web")
    assert not problems, "\n".join(problems)


def resubmit(live: Live, order: dict, problems: list[str], timeout: float = 60) -> None:
    """PAR's resend of the same payload until it gets an answer other than 503."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        response = live.submit(order, timeout=15)
        if response.status_code in (200, 202):
            return
        if response.status_code != 503:
            problems.append(f"{order['request_uid']}: resubmit answered {response.status_code} {response.text[:200]}")
            return
        time.sleep(0.5)
    problems.append(f"{order['request_uid']}: resubmits answered 503 for {timeout}s")


def wait_final(live: Live, uid: str, timeout: float = 60) -> str:
    """The order's final status as polled, or what it still read as after `timeout`."""
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        response = live.get_order(uid)
        last = str(response.status_code) if response.status_code != 200 else response.json()["status"]
        if response.status_code == 200 and last != "pending":
            if last in ("rejected", "errored"):
                last += " " + ",".join(e.get("code", "") for e in response.json().get("errors", []))
            return last
        time.sleep(0.2)
    return f"still {last} after {timeout}s"


def wait_for_callback(receiver: CallbackReceiver, uid: str, timeout: float = 30) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(b'"placed"' in raw for _, raw in receiver.bodies(uid)):
            return True
        time.sleep(0.2)
    return False
