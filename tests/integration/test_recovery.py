"""Processes killed with SIGKILL in the middle of a POS call: the order still ends final, with
exactly one order at the POS (a Celery worker mid-call; the web process mid-request)."""

from __future__ import annotations

import threading

import pytest

from bin.stack import wait_for_http
from tests.support.factories import sample_order
from tests.support.live import start_live, wait_until

BUDGET_MS = 2000
HANG = 2.5  # past the budget, within the 3 s POS read timeout: the call fails with a 503


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    # A long deadline: the order must outlive a lapsed claim, a sweep and a worker's start.
    # A 2 s budget: the web holds a request long enough for a test to kill it mid-request.
    stack = start_live(str(tmp_path_factory.mktemp("recovery")), ORDER_MAX_ASYNC_SECONDS=60, INLINE_BUDGET_MS=BUDGET_MS)
    stack.warm_menu("loc-001")
    yield stack
    stack.stop()


def pos_call_in_flight(live, uid: str, by_worker: bool) -> bool:
    """A call for the order is at the POS now, made under the web's claim or (handed off) a worker's."""
    record = live.record(uid)
    return (
        record.get("o_claim") not in (None, "")
        and record.get("handed") == ("1" if by_worker else "0")
        and live.pos_stats()["in_progress"] >= 1
    )


@pytest.mark.parametrize(
    ("worker_call", "found_at_pos"),
    [
        pytest.param({"hang_seconds": 0, "latency_ms": 2500}, True, id="pos-creates-the-order-anyway"),
        pytest.param({"hang_seconds": HANG}, False, id="pos-creates-nothing"),
    ],
)
def test_a_worker_killed_mid_call_leaves_the_order_final_with_one_pos_order(fresh, worker_call, found_at_pos):
    # The web's inline call hangs past the budget: 202, and the call is cut. Once the POS has
    # dropped that call too, the worker calls it with `worker_call` in force, and is killed
    # while that call is at the POS.
    fresh.knobs("*", hang_seconds=HANG)
    order = sample_order()
    uid = order["request_uid"]
    assert fresh.submit(order).status_code == 202
    wait_until(lambda: fresh.pos_stats()["in_progress"] == 0, message="the POS done with the web's call")
    fresh.knobs("*", **worker_call)
    wait_until(lambda: pos_call_in_flight(fresh, uid, True), message="the worker's call at the POS")
    victim = next(label for label in reversed(fresh.stack.processes) if label.startswith("worker"))
    fresh.kill(victim)
    fresh.knobs("*", hang_seconds=0, latency_ms=0)
    fresh.start_worker(int(victim.removeprefix("worker")) + 1)

    final = fresh.wait_final(uid, timeout=60)
    assert final["status"] == "placed"
    ledger = fresh.ledger(uid)
    assert [o["pos_order_id"] for o in ledger] == [final["order_details"]["pos_order_id"]]
    assert fresh.pos_stats()["orders_created"] == 1
    # Created by the killed call or not: the next worker's POST under the same key got that
    # order (200) or created it; either way one order.
    assert [h["by"] for h in fresh.history(uid) if h["status"] == "placed"] == ["worker"]


def test_a_web_process_killed_mid_request_leaves_the_order_to_the_sweep(fresh):
    fresh.knobs("*", latency_ms=2500)  # the web holds the request for its 2 s budget meanwhile
    order = sample_order()
    uid = order["request_uid"]
    answers = []
    caller = threading.Thread(target=lambda: answers.append(_submit_quietly(fresh, order)), daemon=True)
    caller.start()
    wait_until(lambda: pos_call_in_flight(fresh, uid, False), message="the web's inline call at the POS")
    fresh.kill("web")
    caller.join(30)
    assert answers and isinstance(answers[0], Exception)  # PAR got no answer at all

    # The POS finishes the call it was given; nobody in our service is alive to record it.
    wait_until(lambda: fresh.ledger(uid), message="the POS creating the order")
    record = fresh.record(uid)
    assert record["status"] == "pending"
    assert record["handed"] == "0"

    # The web's claim lapses at the end of its budget; the schedule has the order due then, and
    # the sweep hands it to a worker.
    wait_until(lambda: fresh.record(uid)["status"] != "pending", timeout=60, message="the sweep finishing it")
    fresh.stack.start("web")
    wait_for_http(f"{fresh.base_url}/healthz", 60, fresh.stack.processes["web"])
    final = fresh.wait_final(uid)
    assert final["status"] == "placed"
    assert [o["pos_order_id"] for o in fresh.ledger(uid)] == [final["order_details"]["pos_order_id"]]
    assert fresh.pos_stats()["orders_created"] == 1
    assert [h["by"] for h in fresh.history(uid) if h["status"] == "placed"] == ["worker"]


def _submit_quietly(live, order):
    try:
        return live.submit(order, timeout=30)
    except Exception as exc:  # the connection dies with the web process
        return exc
