"""Issue 18's findings on real processes (gunicorn, a Celery worker and beat, the POS simulator
over HTTP, a private redis-server): a POS that ignores not_after, a web killed after CREATE and
PAR's resubmit with a callback_url, a callback receiver trickling its answer."""

from __future__ import annotations

import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bin.stack import wait_for_http
from tests.support.engine_faults import codes, epoch, first_post_seen, state_by, submit_in_background
from tests.support.factories import sample_order
from tests.support.live import CallbackReceiver, wait_until


def test_a_pos_that_ignores_not_after_has_its_late_placement_voided(stacks):
    """Finding 10: POS latency 6 s, ttl 4, a POS without not_after: the order is errored, the POS
    creates it after the deadline, and reconciliation voids it."""
    live = stacks(
        POS_CONNECT_TIMEOUT="1",
        POS_READ_TIMEOUT="2",
        INLINE_BUDGET_MS="800",
        RECONCILE_SECONDS="30",
        RETRY_BASE_SECONDS="0.5",
        RETRY_CAP_SECONDS="2",
    )
    live.warm_menu()
    live.knobs("loc-001", latency_ms=6000, honour_not_after=False)
    body = sample_order(ttl=4)
    uid, deadline = body["request_uid"], epoch(body["request_datetime"]) + 4
    assert live.submit(body).status_code in (200, 202)
    status, answer = state_by(live, uid, deadline + 20)
    assert status == "errored" and "deadline_exceeded" in codes(answer)
    wait_until(
        lambda: any(entry["status"] == "voided" for entry in live.ledger(uid)), 45, 0.5, "the late placement voided"
    )
    assert all(entry["status"] == "voided" for entry in live.ledger(uid))
    assert live.get_order(uid).json()["status"] == "errored"  # a final never changes
    assert any("voided" in (entry.get("note") or "") for entry in live.history(uid))


def test_a_resubmit_answered_202_after_the_web_was_killed_gets_its_callback(stacks):
    """Finding 5: a web killed after CREATE; PAR's retry was answered 202 and no callback was owed."""
    with CallbackReceiver() as receiver:
        live = stacks(CALLBACK_ALLOW_PRIVATE="true")
        live.warm_menu()
        live.knobs("loc-001", latency_ms=6000)
        body = sample_order(ttl=60, callback_url=receiver.url)
        uid = body["request_uid"]
        submit_in_background(live, body)
        first_post_seen(live, uid)
        live.kill("web")
        live.stack.start("web")
        wait_for_http(f"{live.base_url}/healthz", 60, live.stack.processes["web"])
        again = live.submit(body)
        assert again.status_code == 202, again.text
        live.knobs("loc-001", latency_ms=None)
        assert live.wait_final(uid, 60)["status"] == "placed"
        wait_until(lambda: receiver.bodies(uid), 60, 0.2, "the callback owed by the 202")


class TrickleReceiver:
    """Answers every callback 200, one byte every `gap` seconds; records when each began and ended."""

    def __init__(self, gap: float):
        self.spans: list[list[float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's naming
                span = [time.monotonic(), 0.0]
                with receiver.lock:
                    receiver.spans.append(span)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(gap)
                except OSError:
                    pass
                span[1] = time.monotonic()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def overlapping(self) -> int:
        with self.lock:
            spans = sorted((start, end or time.monotonic()) for start, end in self.spans)
        return sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)


def test_a_trickling_callback_receiver_never_gets_two_deliveries_at_once(stacks):
    """Finding 4: a receiver trickling its answer for 14 s kept sender A in its call past its claim
    (10 s), and the sweep's sender B delivered too. Now a delivery ends at CALLBACK_TIMEOUT_SECONDS,
    before its claim does."""
    receiver = TrickleReceiver(gap=0.4)  # 38 bytes: about 15 s, each byte well inside a read timeout
    try:
        live = stacks(
            CALLBACK_ALLOW_PRIVATE="true",
            CALLBACK_TIMEOUT_SECONDS="3",
            CALLBACK_BACKOFF_BASE_SECONDS="0.5",
            CALLBACK_BACKOFF_CAP_SECONDS="1",
            SWEEP_SECONDS="1",
        )
        live.warm_menu()
        live.knobs("loc-001", latency_ms=4000)  # past the inline budget: a 202, so the callback is owed
        body = sample_order(ttl=60, callback_url=receiver.url)
        assert live.submit(body).status_code == 202
        live.knobs("loc-001", latency_ms=None)
        assert live.wait_final(body["request_uid"], 60)["status"] == "placed"
        wait_until(lambda: len(receiver.spans) >= 3, 60, 0.2, "three deliveries tried")
        assert receiver.overlapping() == 0
    finally:
        receiver.server.shutdown()
