"""Graceful shutdown on a real stack: SIGTERM to the web while a request is held in the inline
budget, and to the worker while it is at the POS with an order. Each order still ends final,
placed once."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from bin.stack import wait_for_http
from tests.support.factories import sample_order
from tests.support.live import start_live, wait_until

FINAL = ("placed", "errored", "rejected", "cancelled")


@pytest.fixture(scope="module")
def shut(tmp_path_factory):
    live = start_live(str(tmp_path_factory.mktemp("shutdown")))
    yield live
    live.stop()


@pytest.fixture
def pos(shut):
    shut.reset_pos()
    yield shut
    shut.reset_pos()


def status(live, uid: str) -> str:
    return (live.redis.hget(f"order:{uid}", "status") or b"").decode()


def test_sigterm_to_the_web_lets_a_held_request_answer_and_its_order_end_placed(pos):
    pos.knobs("*", latency_ms=1500)  # longer than the 800 ms budget: the request is held, then 202
    order = sample_order()
    uid = order["request_uid"]
    answers = []
    client = threading.Thread(target=lambda: answers.append(pos.submit(order)), daemon=True)
    client.start()
    wait_until(lambda: pos.redis.hget(f"order:{uid}", "o_claim"), 20, 0.005, "the inline POS call under way")
    master = pos.stack.processes["web"]
    os.kill(master.pid, signal.SIGTERM)  # what `docker stop` does: the master alone is told
    client.join(30)
    assert answers, "the held request got no answer"
    response = answers[0]
    assert response.status_code in (200, 202), response.text
    assert response.json()["request_uid"] == uid and response.json()["status"] in ("placed", "pending")
    assert master.wait(60) == 0
    wait_until(lambda: status(pos, uid) in FINAL, 30, 0.1, "the order final")
    assert status(pos, uid) == "placed"
    assert len(pos.ledger(uid)) == 1
    pos.stack.start("web")
    wait_for_http(f"{pos.base_url}/healthz", 60, pos.stack.processes["web"])
    assert pos.get_order(uid).json()["status"] == "placed"


def test_sigterm_to_the_worker_mid_order_still_ends_it_placed(pos):
    pos.knobs("*", error_rate=1.0)  # the inline attempts fail fast: the order goes to the worker
    order = sample_order()
    uid = order["request_uid"]
    assert pos.submit(order).status_code == 202
    pos.knobs("*", error_rate=None, latency_ms=2000)  # the worker's next attempt takes 2 s at the POS

    def worker_at_the_pos() -> bool:
        """The same claim held across 0.3 s: one slow move under way (the web's is over)."""
        token = pos.redis.hget(f"order:{uid}", "o_claim")
        if not token:
            return False
        time.sleep(0.3)
        return pos.redis.hget(f"order:{uid}", "o_claim") == token

    wait_until(worker_at_the_pos, 30, 0.02, "the worker's attempt at the POS")
    worker = pos.stack.processes["worker1"]
    os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: finish what runs, take nothing new
    assert worker.wait(60) == 0
    pos.knobs("*", latency_ms=None)
    pos.start_worker(2)  # a retry or a redelivered message, if any, is finished by the next worker
    pos.wait_for_workers(1)
    assert pos.wait_final(uid)["status"] == "placed"
    assert len(pos.ledger(uid)) == 1
