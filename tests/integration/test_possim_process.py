"""``python -m possim`` as a real process, over HTTP: start-up, concurrency, knobs file, stop."""

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "possim-it-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start_possim(*args, env=None, token=TOKEN):
    """Start the simulator on a free port; (process, base URL) once it answers."""
    command = [sys.executable, "-m", "possim", "--host", "127.0.0.1", "--port", "0", *args]
    if token:
        command += ["--token", token]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("possim listening on http://"):
            raise RuntimeError(f"possim did not start: {line!r} {proc.stderr.read()!r}")
        url = line.split()[-1]
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{url}/locations/loc-001", headers=AUTH, timeout=1)
                return proc, url
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    except BaseException:
        stop_possim(proc)
        raise


def stop_possim(proc) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        stream.close()
    return proc.returncode


@pytest.fixture(scope="module")
def possim_url():
    proc, url = start_possim()
    try:
        yield url
    finally:
        stop_possim(proc)


@pytest.fixture
def pos(possim_url):
    session = requests.Session()
    session.headers.update(AUTH)
    assert session.post(f"{possim_url}/_admin/reset", timeout=5).status_code == 200
    try:
        yield session, possim_url
    finally:
        session.close()


def order_body(external_id, location_id="loc-001"):
    return {
        "external_id": external_id,
        "location_id": location_id,
        "items": [
            {
                "id": "combo-001",
                "item_type": "Combo",
                "quantity": 1,
                "unit_price": 1299,
                "children": [
                    {
                        "id": "mod-006",
                        "item_type": "Modifier",
                        "quantity": 1,
                        "unit_price": 100,
                        "children": [],
                        "note": None,
                    }
                ],
                "note": None,
            }
        ],
        "totals": {"subtotal": 1399, "discount_total": 0, "tax": 115, "tip": 0, "grand_total": 1514},
        "fulfillment": {"type": "pickup"},
        "customer": {"name": "Bo"},
        "scheduled_for": None,
    }


def post_order(url, external_id, key=None, timeout=10):
    return requests.post(
        f"{url}/orders",
        json=order_body(external_id),
        timeout=timeout,
        headers={**AUTH, "Idempotency-Key": key or external_id},
    )


def run_together(count, call):
    """Run ``call(n)`` in ``count`` threads released at once; their results in order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(n):
        barrier.wait()
        results[n] = call(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_serves_the_contract_over_http(pos):
    session, url = pos
    assert requests.get(f"{url}/locations/loc-001", timeout=5).status_code == 401
    location = session.get(f"{url}/locations/loc-002", timeout=5).json()
    assert location["name"] == "Harbor" and location["tax_rate"] == "0.0600"
    menu = session.get(f"{url}/locations/loc-002/menu", timeout=5).json()
    assert {"item-001", "combo-001", "mod-006", "disc-001"} <= {i["id"] for i in menu["items"]}
    created = post_order(url, "req-http")
    assert created.status_code == 201 and created.json()["total"] == 1514
    found = session.get(f"{url}/orders", params={"external_id": "req-http"}, timeout=5).json()
    assert [o["pos_order_id"] for o in found] == [created.json()["pos_order_id"]]
    missing = session.get(f"{url}/nowhere", timeout=5)
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"


def test_twenty_concurrent_calls_with_one_key_make_one_order(pos):
    session, url = pos
    assert session.put(f"{url}/_admin/knobs/*", json={"latency_ms": 100}, timeout=5).status_code == 200
    statuses = [r.status_code for r in run_together(20, lambda n: post_order(url, "req-race"))]
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {201, 200, 409}, statuses
    ledger = session.get(f"{url}/_admin/ledger", timeout=5).json()
    assert ledger["count"] == 1 and ledger["orders"][0]["idempotency_key"] == "req-race"
    assert session.get(f"{url}/_admin/stats", timeout=5).json()["post_orders_total"] == 20


def test_latency_does_not_block_other_requests(pos):
    session, url = pos
    session.put(f"{url}/_admin/knobs/*", json={"latency_ms": 500}, timeout=5)
    started = time.monotonic()
    answers = run_together(40, lambda n: post_order(url, f"req-par-{n}"))
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * 40
    assert elapsed < 4, f"40 calls of 500 ms took {elapsed:.1f}s: not concurrent"
    assert session.get(f"{url}/_admin/ledger", timeout=5).json()["count"] == 40


def test_timed_out_call_still_creates_and_lookup_finds_it(pos):
    session, url = pos
    session.put(f"{url}/_admin/knobs/loc-001", json={"latency_ms": 600}, timeout=5)
    with pytest.raises(requests.ReadTimeout):
        post_order(url, "req-slow", timeout=0.2)
    retry = post_order(url, "req-slow")  # still sleeping: in progress
    assert retry.status_code == 409
    time.sleep(0.8)
    found = session.get(f"{url}/orders", params={"external_id": "req-slow"}, timeout=5).json()
    assert len(found) == 1
    assert post_order(url, "req-slow").json()["pos_order_id"] == found[0]["pos_order_id"]


def test_knobs_file_token_from_env_and_reset_keeps_start_knobs(tmp_path):
    knobs_file = tmp_path / "knobs.json"
    knobs_file.write_text(json.dumps({"loc-001": {"down": True}, "*": {"latency_ms": 1}}))
    proc, url = start_possim("--knobs", str(knobs_file), token=None, env={"POS_API_TOKEN": TOKEN})
    try:
        assert requests.get(f"{url}/locations/loc-001", headers=AUTH, timeout=5).status_code == 503
        assert requests.get(f"{url}/locations/loc-002", headers=AUTH, timeout=5).status_code == 200
        requests.put(f"{url}/_admin/knobs/loc-001", json={"down": False}, headers=AUTH, timeout=5)
        assert requests.get(f"{url}/locations/loc-001", headers=AUTH, timeout=5).status_code == 200
        requests.post(f"{url}/_admin/reset", headers=AUTH, timeout=5)
        assert requests.get(f"{url}/locations/loc-001", headers=AUTH, timeout=5).status_code == 503
    finally:
        stop_possim(proc)


def test_sigterm_stops_it_cleanly():
    proc, _url = start_possim()
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "possim stopped" in proc.stdout.read()
    finally:
        stop_possim(proc)


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "POS_API_TOKEN"),
        (("--token", "t", "--knobs", "/nonexistent/knobs.json"), "knobs"),
    ],
)
def test_bad_start_exits_with_a_clear_message(args, message):
    env = {k: v for k, v in os.environ.items() if k != "POS_API_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "possim", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_a_call_slower_than_the_read_timeout_never_creates_after_not_after(pos):
    # The client gives up (read timeout) while the simulator sleeps; when it would create the
    # order, not_after has passed: nothing is created, and the ledger counts the calls.
    from datetime import UTC, datetime, timedelta

    session, url = pos
    session.put(f"{url}/_admin/knobs/loc-001", json={"latency_ms": 800}, timeout=5)
    not_after = (datetime.now(UTC) + timedelta(seconds=0.4)).isoformat(timespec="milliseconds")
    body = dict(order_body("req-late"), not_after=not_after.replace("+00:00", "Z"))
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{url}/orders", json=body, timeout=0.3, headers={**AUTH, "Idempotency-Key": "req-late"})
    time.sleep(0.8)
    assert session.get(f"{url}/orders", params={"external_id": "req-late"}, timeout=5).json() == []
    view = session.get(f"{url}/_admin/ledger", params={"external_id": "req-late"}, timeout=5).json()
    assert view["count"] == 0
    assert (view["calls"]["req-late"]["posts"], view["calls"]["req-late"]["lookups"]) == (1, 1)
    assert session.get(f"{url}/_admin/stats", timeout=5).json()["post_orders"] == {"422": 1}
    # the same order in time: created, its not_after on the ledger
    session.put(f"{url}/_admin/knobs/loc-001", json={"latency_ms": None}, timeout=5)
    in_time = dict(order_body("req-ok"), not_after=body["not_after"][:2] + "99" + body["not_after"][4:])
    created = requests.post(f"{url}/orders", json=in_time, timeout=5, headers={**AUTH, "Idempotency-Key": "req-ok"})
    assert created.status_code == 201
    [entry] = session.get(f"{url}/_admin/ledger", params={"external_id": "req-ok"}, timeout=5).json()["orders"]
    assert entry["not_after"] == in_time["not_after"] and entry["created_at"] < entry["not_after"]


def void_order(url, external_id, timeout=10):
    return requests.post(
        f"{url}/orders/void",
        json={"external_id": external_id, "reason": "cancelled"},
        timeout=timeout,
        headers={**AUTH, "Idempotency-Key": f"void:{external_id}"},
    )


def test_a_void_while_the_post_sleeps_in_the_latency_knob_closes_the_key(pos):
    # gevent serves both at once: the void lands while the POST sleeps, and the POST makes nothing.
    session, url = pos
    session.put(f"{url}/_admin/knobs/loc-001", json={"latency_ms": 600}, timeout=5)
    held = {}
    thread = threading.Thread(target=lambda: held.update(answer=post_order(url, "req-held")))
    thread.start()
    deadline = time.monotonic() + 5
    while session.get(f"{url}/_admin/stats", timeout=5).json()["in_progress"] == 0:
        assert time.monotonic() < deadline, "the POST never started"
        time.sleep(0.02)
    voided = void_order(url, "req-held")
    thread.join(10)
    assert voided.status_code == 200 and voided.json() == {
        "external_id": "req-held",
        "status": "voided",
        "pos_order_id": None,
    }
    assert held["answer"].status_code == 422 and held["answer"].json()["error"]["code"] == "voided"
    view = session.get(f"{url}/_admin/ledger", params={"external_id": "req-held"}, timeout=5).json()
    assert view["count"] == 0 and view["calls"]["req-held"]["voids"] == 1
    # an order made, then voided: kept in the ledger as voided; past the window, not voidable
    session.put(f"{url}/_admin/knobs/loc-001", json={"latency_ms": None}, timeout=5)
    made = post_order(url, "req-made").json()
    assert void_order(url, "req-made").json()["pos_order_id"] == made["pos_order_id"]
    [entry] = session.get(f"{url}/_admin/ledger", params={"external_id": "req-made"}, timeout=5).json()["orders"]
    assert entry["status"] == "voided" and entry["created_at"] == made["created_at"]
    session.put(f"{url}/_admin/knobs/loc-001", json={"void_window_ms": 0}, timeout=5)
    post_order(url, "req-kept")
    kept = void_order(url, "req-kept")
    assert kept.status_code == 409 and kept.json()["error"]["code"] == "not_voidable"
