"""Issue 20, finding 4: a frozen Redis (redis-server SIGSTOPped) on a live stack. Every path
answers within about 1.5 s: submit and validate 503 with Retry-After, /readyz 503 naming
TimeoutError, /metrics 200 without the Redis figures (posbridge_metrics_redis_up 0), the CLI
exit 3 naming TimeoutError; all back once Redis runs again."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.support.factories import sample_order
from tests.support.live import start_live, wait_until

WITHIN = 2.0  # ~1.5 s (a 1 s read timeout and the answer), with room for a loaded test machine


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = start_live(str(tmp_path_factory.mktemp("frozen")))
    yield stack
    stack.stop()


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_frozen_redis_is_answered_within_about_1_5_s_on_every_path(live):
    assert live.submit(sample_order()).status_code == 200  # pooled connections made and in use
    live.warm_menu()
    _, cli_start = timed(lambda: live.posbridge("config", "check"))
    pid = live.redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        for path, body in (
            ("/posnext/order/submit", sample_order()),
            ("/posnext/order/validate", sample_order(request_type="validate-order")),
        ):
            answer, seconds = timed(lambda path=path, body=body: live.post(path, body))
            assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0, (path, answer.text)
            assert seconds < WITHIN, (path, seconds)
            print(f"{path}: {answer.status_code} in {seconds:.2f} s")
        ready, seconds = timed(lambda: requests.get(f"{live.base_url}/readyz", timeout=30))
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable: TimeoutError", ready.text
        assert seconds < WITHIN, seconds
        scraped, seconds = timed(lambda: requests.get(f"{live.base_url}/metrics", timeout=30))
        assert scraped.status_code == 200 and seconds < WITHIN, seconds
        assert "posbridge_metrics_redis_up 0.0" in scraped.text and "posbridge_requests_total" in scraped.text
        done, seconds = timed(lambda: live.posbridge("orders", "summary"))
        assert done.returncode == 3 and "TimeoutError" in done.stderr, done.stderr
        assert seconds < cli_start + WITHIN, (seconds, cli_start)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(
        lambda: requests.get(f"{live.base_url}/readyz", timeout=30).json()["checks"]["redis"] == "ok",
        message="/readyz: redis back",
    )
    assert "posbridge_metrics_redis_up 1.0" in requests.get(f"{live.base_url}/metrics", timeout=30).text
    assert live.submit(sample_order()).status_code == 200
