"""Observability on a real stack: /metrics and the worker's metrics move as orders flow, every
log line is JSON with its request_uid and no secret, Flower is behind basic auth and finds
an order's task by its request_uid."""

from __future__ import annotations

import ast
import json
import re
import secrets

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from bin.stack import free_port, wait_for_port
from tests.support.factories import sample_order
from tests.support.live import JWT_SECRET, POS_TOKEN, SHARED_ID, CallbackReceiver, start_live, wait_until

# Celery prints this one line straight to the terminal when a worker stops (not a log record).
CELERY_SHUTDOWN_LINE = re.compile(r"^worker: (Warm|Cold) shutdown \(MainProcess\)$")
FLOWER_PASSWORD = "fl-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    port = free_port()
    live = start_live(str(tmp_path_factory.mktemp("ops")), WORKER_METRICS_PORT=port)
    live.worker_metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield live
    live.stop()


@pytest.fixture(scope="module")
def flower(ops):
    port = free_port()
    ops.stack.start(
        "flower", FLOWER_PORT=str(port), FLOWER_ADDRESS="127.0.0.1", FLOWER_BASIC_AUTH=f"oncall:{FLOWER_PASSWORD}"
    )
    wait_for_port(port, 60, ops.stack.processes["flower"])
    yield f"http://127.0.0.1:{port}"
    ops.stack.stop("flower")


@pytest.fixture
def pos(ops):
    ops.reset_pos()
    yield ops
    ops.reset_pos()


def scrape(url: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a Prometheus text page."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def overrun(live, **fields) -> dict:
    """An order the POS is too slow for: 202, and the rest in a worker."""
    live.knobs("*", latency_ms=1500)
    order = sample_order(**fields)
    response = live.submit(order)
    assert response.status_code == 202, response.text
    live.knobs("*", latency_ms=None)
    return order


def test_metrics_move_as_orders_flow(pos):
    web = f"{pos.base_url}/metrics"
    before = scrape(web)
    placed = sample_order()
    assert pos.submit(placed).status_code == 200
    with CallbackReceiver(200) as good, CallbackReceiver(500) as bad:
        delivered = overrun(pos, callback_url=good.url)
        failing = overrun(pos, callback_url=bad.url)
        for order in (delivered, failing):
            assert pos.wait_final(order["request_uid"])["status"] == "placed"
        after = wait_until(
            lambda: (
                lambda s: (
                    s
                    if value(s, "posbridge_callback_deliveries_total", outcome="failed") >= 1
                    and value(s, "posbridge_callback_deliveries_total", outcome="delivered") >= 1
                    else None
                )
            )(scrape(web)),
            30,
            0.3,
            "callback counters",
        )
        assert good.bodies(delivered["request_uid"]) and bad.bodies(failing["request_uid"])

    def rose(name, by=1, **labels):
        assert value(after, name, **labels) >= value(before, name, **labels) + by, (name, labels)

    rose("posbridge_orders_final_total", endpoint="submit", status="placed", path="inline")
    rose("posbridge_orders_final_total", by=2, endpoint="submit", status="placed", path="worker")
    rose("posbridge_inline_budget_overruns_total", by=2)
    rose("posbridge_pos_call_seconds_count", by=1, operation="place", outcome="201")  # the inline one
    rose("posbridge_pos_call_seconds_count", by=2, operation="place", outcome="budget_cut")  # cut at the budget
    rose("posbridge_pos_call_seconds_bucket", by=1, operation="place", outcome="201", le="+Inf")
    rose("posbridge_requests_total", by=1, endpoint="orders.submit", code="200")
    rose("posbridge_requests_total", by=2, endpoint="orders.submit", code="202")
    for name in (
        "posbridge_queue_depth",
        "posbridge_oldest_pending_order_seconds",
        "posbridge_orders_open",
        "posbridge_callbacks_undelivered",
    ):
        assert any(key[0] == name for key in after), name
    worker = scrape(pos.worker_metrics_url)
    assert value(worker, "posbridge_callbacks_total", outcome="delivered") >= 1
    assert value(worker, "posbridge_callbacks_total", outcome="failed") >= 1


def test_queue_depth_and_oldest_pending_follow_a_stopped_worker(pos):
    web = f"{pos.base_url}/metrics"
    pos.stack.stop("worker1")
    try:
        pos.knobs("*", error_rate=1.0)  # the inline attempts fail: the order waits for a worker
        order = sample_order()
        assert pos.submit(order).status_code == 202
        waiting = wait_until(
            lambda: (
                lambda s: (
                    s
                    if value(s, "posbridge_queue_depth", queue="orders") >= 1
                    and value(s, "posbridge_oldest_pending_order_seconds") > 0
                    else None
                )
            )(scrape(web)),
            30,
            0.3,
            "queue depth and pending age",
        )
        assert value(waiting, "posbridge_orders_open") >= 1
        pos.knobs("*", error_rate=None)
    finally:
        pos.start_worker(1)
        pos.wait_for_workers(1)
    assert pos.wait_final(order["request_uid"])["status"] == "placed"
    drained = wait_until(
        lambda: (
            lambda s: (
                s
                if value(s, "posbridge_orders_open") == 0 and value(s, "posbridge_queue_depth", queue="orders") == 0
                else None
            )
        )(scrape(web)),
        30,
        0.3,
        "drained queue",
    )
    assert value(drained, "posbridge_oldest_pending_order_seconds") == 0
    worker = scrape(pos.worker_metrics_url)  # the new worker placed it: its own POS call and step
    assert value(worker, "posbridge_pos_call_seconds_count", operation="place", outcome="201") >= 1
    assert value(worker, "posbridge_worker_steps_total", result="placed") >= 1


def test_flower_is_behind_basic_auth_and_finds_an_order_task_by_request_uid(pos, flower):
    assert requests.get(flower, timeout=10).status_code == 401
    assert requests.get(f"{flower}/api/tasks", timeout=10).status_code == 401
    assert requests.get(flower, auth=("oncall", "wrong"), timeout=10).status_code == 401
    auth = ("oncall", FLOWER_PASSWORD)
    assert requests.get(flower, auth=auth, timeout=10).status_code == 200

    def tasks(**params) -> dict:
        response = requests.get(f"{flower}/api/tasks", params=params, auth=auth, timeout=10)
        assert response.status_code == 200
        return response.json()

    # Maintenance tasks send no events (Flower shows order tasks): the order's task is the first seen.
    order = overrun(pos)
    uid = order["request_uid"]
    found = wait_until(
        lambda: [t for t in tasks(search=uid).values() if t["name"] == "workers.orders.place_order"],
        60,
        0.5,
        f"Flower listing the task of {uid}",
    )
    for task in found:
        assert list(ast.literal_eval(task["args"])) == [uid]  # the uid, never the payload
        assert task["kwargs"] == "{}"
    assert pos.wait_final(uid)["status"] == "placed"


def test_logs_are_json_lines_with_request_uid_and_no_secret(pos, flower):
    with CallbackReceiver(200) as receiver:
        order = overrun(pos, callback_url=receiver.url)
        uid = order["request_uid"]
        assert pos.wait_final(uid)["status"] == "placed"
        wait_until(lambda: receiver.bodies(uid), 30, 0.2, "the callback")
    wait_until(
        lambda: (
            f'"request_uid": "{uid}"' in pos.stack.log("worker1") and "deliver_callback" in pos.stack.log("worker1")
        ),
        30,
        0.2,
        "the worker's lines",
    )
    lines = {}
    for label in ("web", "worker1", "beat", "flower"):
        parsed = []
        for line in pos.stack.log(label).splitlines():
            if not line.strip() or CELERY_SHUTDOWN_LINE.match(line):
                continue
            entry = json.loads(line)  # every line one JSON object
            assert {"ts", "level", "logger", "process", "msg"} <= set(entry), line
            parsed.append(entry)
        assert parsed, label
        lines[label] = parsed
    assert {e["process"] for e in lines["web"]} == {"web"}
    assert {e["process"] for e in lines["beat"]} == {"beat"}
    assert {e["process"] for e in lines["flower"]} == {"flower"}
    assert any(e["logger"].startswith("gunicorn") for e in lines["web"])
    web = [e for e in lines["web"] if e.get("request_uid") == uid]
    worker = [e for e in lines["worker1"] if e.get("request_uid") == uid]
    assert web and worker
    assert any(e["logger"] == "app.requests" and e["code"] == 202 and e["status"] == "pending" for e in web)
    assert any(e.get("data", {}).get("name") == "workers.orders.place_order" for e in worker)
    assert any(e.get("data", {}).get("name") == "workers.callbacks.deliver_callback" for e in worker)
    everything = "".join(pos.stack.log(label) for label in pos.stack.processes)
    for secret in (JWT_SECRET, SHARED_ID, SHARED_ID[:10], POS_TOKEN, FLOWER_PASSWORD, pos.token):
        assert secret not in everything
