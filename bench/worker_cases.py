"""The worker path: orders/s through Celery against bare no-op tasks/s, by process count and pool.

Orders are recorded the way the web leaves an overrun order (created, validated, handed off)
straight through OrderStore, then their ids are sent to `workers.orders.place_order`. A run
ends when the queue is drained and nothing is unacked (and, for orders, every one is final).
Four order workers (broker database 0) and four no-op workers (the same redis-server, database
1) start together; 1, 2 or 4 of each consume, switched with Celery's add/cancel_consumer.
"""

from __future__ import annotations

import time
import uuid

import redis
from celery import Celery

from app import jsonio
from app.orders.keys import STATS_KEY
from app.orders.order import fingerprint, new_record, ttl_deadline
from app.orders.store import OrderStore
from app.tasks import PLACE_ORDER
from bench.report import Row, num
from bench.runner import Runner
from bench.stacks import NOOP_TASK, BenchStack
from bin.sample import sample_order

QUEUE = "orders"
PLACED_BY_WORKER = "submit|placed|worker"
NOOP_DB = 1


class Enqueuer:
    """Sends work to the workers of one broker database and times how fast they finish it."""

    def __init__(self, stack: BenchStack, db: int = 0):
        self.stack = stack
        self.store = OrderStore(stack.redis)
        self.broker = redis.Redis.from_url(stack.broker_url(db))
        self.celery = Celery(broker=stack.broker_url(db))
        self.template = sample_order()

    def record_orders(self, count: int) -> list[str]:
        """Orders as the web leaves them after an overrun: recorded, validated, handed off."""
        uids, now = [], time.time()
        prefix = uuid.uuid4().hex[:10]
        for index in range(count):
            order = dict(self.template, request_uid=f"w{prefix}-{index:07d}")
            doc = new_record(order, now)
            _, token = self.store.create(
                order["request_uid"],
                fp=fingerprint(order),
                doc_text=jsonio.dumps(doc),
                location=order["location_id"],
                ttl_deadline=ttl_deadline(order),
                max_async=900,
                by="bench",
                claim_seconds=5.0,
                menu_key="menu:none",
            )
            self.store.mark_validated(order["request_uid"], token, by="bench", pos_body=b"")
            self.store.hand_off(order["request_uid"], token, by="bench")
            uids.append(order["request_uid"])
        return uids

    def placed(self) -> int:
        return int(self.stack.redis.hget(STATS_KEY, PLACED_BY_WORKER) or 0)

    def unacked(self) -> int:
        return self.broker.hlen("unacked")

    def drained(self, stranded: int) -> bool:
        """The queue is empty and no message of this run is still unacked (`stranded`: how many
        were unacked before it, left by an earlier run, redelivered only after visibility_timeout)."""
        return self.broker.llen(QUEUE) == 0 and self.unacked() <= stranded

    def orders_rate(self, count: int, timeout: float = 300) -> float:
        """Orders placed per second by the order workers consuming now."""
        uids = self.record_orders(count)
        target, stranded = self.placed() + count, self.unacked()
        started = time.monotonic()
        with self.celery.producer_or_acquire() as producer:
            for uid in uids:
                self.celery.send_task(PLACE_ORDER, args=[uid], queue=QUEUE, producer=producer)
        self._wait(lambda: self.placed() >= target and self.drained(stranded), started + timeout)
        return count / (time.monotonic() - started)

    def noop_rate(self, count: int, timeout: float = 300) -> float:
        """Bare Celery: no-op tasks per second by the no-op workers consuming now."""
        stranded, started = self.unacked(), time.monotonic()
        with self.celery.producer_or_acquire() as producer:
            for _ in range(count):
                self.celery.send_task(NOOP_TASK, queue=QUEUE, producer=producer)
        self._wait(lambda: self.drained(stranded), started + timeout)
        return count / (time.monotonic() - started)

    def consume(self, nodes: list[str], count: int) -> None:
        """Only the first `count` of the nodes consume the queue."""
        if nodes[count:]:
            self.celery.control.cancel_consumer(QUEUE, destination=nodes[count:], reply=True, timeout=5)
        self.celery.control.add_consumer(QUEUE, destination=nodes[:count], reply=True, timeout=5)
        time.sleep(0.2)

    @staticmethod
    def _wait(condition, until: float) -> None:
        while not condition():
            if time.monotonic() > until:
                raise TimeoutError("the workers did not finish the run in time (see the worker logs)")
            time.sleep(0.01)

    def close(self) -> None:
        self.celery.close()
        self.broker.close()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def workers(runner: Runner) -> list[Row]:
    """1, 2 and 4 worker processes (gevent, the Procfile's), then the pool: gevent vs prefork."""
    stack, mode = runner.stack, runner.mode
    orders, noops = Enqueuer(stack), Enqueuer(stack, NOOP_DB)
    noop_env = {"CELERY_BROKER_URL": stack.broker_url(NOOP_DB)}
    placed: dict[int | str, list[float]] = {}  # rates by worker count, and by pool for the no-ops
    done: dict[int | str, list[float]] = {}
    held: dict[str, float] = {}
    try:
        stack.knobs("loc-001", latency_ms=0)
        labels = stack.start_workers(4, name="worker", prefix="worker")
        labels += stack.start_workers(4, name="noop", prefix="noop", **noop_env)
        order_nodes, noop_nodes = stack.wait_workers(4), stack.wait_workers(4, db=NOOP_DB)
        for count in (1, 2, 4):
            orders.consume(order_nodes, count)
            noops.consume(noop_nodes, count)
            for _ in range(mode.reps):
                placed.setdefault(count, []).append(orders.orders_rate(mode.orders))
                done.setdefault(count, []).append(noops.noop_rate(mode.orders))
            if count == 1:
                stack.knobs("loc-001", latency_ms=200)
                held["gevent"] = orders.orders_rate(mode.orders)
                stack.knobs("loc-001", latency_ms=0)
        stack.stop_together(*labels)
        labels = stack.start_workers(1, name="worker_prefork", prefix="fork", WORKER_CONCURRENCY="4")
        labels += stack.start_workers(1, name="noop_prefork", prefix="noopfork", WORKER_CONCURRENCY="4", **noop_env)
        stack.wait_workers(1)
        stack.wait_workers(1, db=NOOP_DB)
        done["prefork"] = [noops.noop_rate(mode.orders) for _ in range(mode.reps)]
        stack.knobs("loc-001", latency_ms=200)
        held["prefork"] = orders.orders_rate(max(20, int(20 * mode.seconds)))
        stack.knobs("loc-001", latency_ms=0)
        stack.stop_together(*labels)
    finally:
        orders.close()
        noops.close()
    return _rows({k: _median(v) for k, v in placed.items()}, {k: _median(v) for k, v in done.items()}, held)


def _rows(placed: dict, done: dict, held: dict) -> list[Row]:
    rows = []
    for count in (1, 2, 4):
        ratio = placed[count] / done[count]
        rows.append(
            Row(
                f"workers, {count} process(es), POS 0 ms",
                "orders/s vs bare Celery no-op tasks/s",
                num(placed[count]),
                num(done[count]) + " no-op",
                f"{ratio:.2f}",
                ">= 0.50",
                ratio >= 0.5,
            )
        )
    for count in (2, 4):
        scale, noop_scale = placed[count] / placed[1], done[count] / done[1]
        rows.append(
            Row(
                f"workers, 1 -> {count} processes",
                "orders/s scaling (no-op scaling as baseline)",
                f"{scale:.2f}x",
                f"{noop_scale:.2f}x no-op",
                f"{scale / noop_scale:.2f}",
                ">= 1.7x" if count == 2 else "",
                scale >= 1.7 if count == 2 else None,
            )
        )
    rows.append(
        Row(
            "Celery pool, no-op tasks",
            "tasks/s gevent 100 vs prefork 4",
            num(done[1]),
            num(done["prefork"]) + " prefork",
            f"{done[1] / done['prefork']:.2f}",
        )
    )
    ratio = held["gevent"] / held["prefork"]
    rows.append(
        Row(
            "Celery pool, POS 200 ms",
            "orders/s gevent 100 vs prefork 4",
            num(held["gevent"]),
            num(held["prefork"]) + " prefork",
            f"{ratio:.2f}",
            "> 1 (choose gevent)",
            ratio > 1,
        )
    )
    return rows
