"""The on-call CLI against a real stack: `posbridge orders|callbacks|menus|sample|sign ...`, run
as a subprocess (the console script) with the stack's environment, each command as the runbook
uses it; and its failures: a frozen Redis, a POS answering 503, the shell lacking the service's
settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from app import signing
from tests.support.factories import sample_order
from tests.support.live import SHARED_ID, CallbackReceiver, start_live, wait_until


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The module's stack, with orders given a minute: the stuck-order test runs a dozen CLI
    commands before the order may be placed, which took longer than the 20 s of short_env on a
    loaded machine (the order ended errored at its deadline)."""
    stack = start_live(str(tmp_path_factory.mktemp("live")), ORDER_MAX_ASYNC_SECONDS="60")
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def pos(live):
    live.reset_pos()
    yield
    live.reset_pos()


def ok(live, *args) -> str:
    done = live.posbridge(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr[-2000:])
    return done.stdout


def failed(live, *args) -> str:
    done = live.posbridge(*args)
    assert done.returncode != 0, (args, done.stdout)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


def test_orders_show_list_and_summary(live):
    order = sample_order()
    uid = order["request_uid"]
    assert live.submit(order).status_code == 200
    shown = json.loads(ok(live, "orders", "show", uid))
    assert shown["status"] == "placed" and shown["record"]["order_details"]["pos_order_id"].startswith("P-")
    assert next(h["status"] for h in shown["history"]) == "pending" and shown["history"][-1]["status"] == "placed"
    assert shown["path"] == "inline" and shown["next_move_at"] is None and "pos_calls" in shown
    assert "no order 'never-seen'" in failed(live, "orders", "show", "never-seen")
    recent = ok(live, "orders", "list").splitlines()
    assert recent[0].startswith(uid) and "placed" in recent[0]  # newest first
    assert uid in ok(live, "orders", "list", "--location", "loc-001")
    assert uid not in ok(live, "orders", "list", "--location", "loc-002")
    summary = json.loads(ok(live, "orders", "summary"))
    assert summary["final_orders"].get("submit|placed|inline", 0) >= 1
    assert {
        "open_orders",
        "stuck_orders",
        "oldest_open_seconds",
        "queue_depth",
        "callbacks_undelivered",
        "menus_cached",
    } <= set(summary)
    assert "loc-001" in summary["menus_cached"]


def test_stuck_orders_are_listed_and_re_driven(live):
    live.stack.stop("beat")  # the sweep would re-drive the stuck order before the CLI does
    live.stack.stop("worker1")
    try:
        live.knobs("*", error_rate=1.0)
        order = sample_order()
        uid = order["request_uid"]
        assert live.submit(order).status_code == 202
        assert uid in ok(live, "orders", "list", "--open")
        wait_until(lambda: uid in ok(live, "orders", "list", "--stuck"), 30, 0.5, "the order listed as stuck")
        summary = json.loads(ok(live, "orders", "summary"))
        assert summary["open_orders"] >= 1 and summary["stuck_orders"] >= 1 and summary["queue_depth"]["orders"] >= 1
        assert f"re-driven: {uid}" in ok(live, "orders", "redrive", uid)
        assert any(h.get("note") == "re-driven" and h.get("by", "").startswith("cli/") for h in live.history(uid))
        wait_until(lambda: uid in ok(live, "orders", "list", "--stuck"), 30, 0.5, "stuck again")
        assert f"re-driven: {uid}" in ok(live, "orders", "redrive", "--stuck")
        assert "never-seen (no such order)" in failed(live, "orders", "redrive", "never-seen")
        assert "request_uids, or --stuck" in failed(live, "orders", "redrive")
        live.knobs("*", error_rate=None)
    finally:
        live.start_worker(1)
        live.stack.start("beat")
        live.wait_for_workers(1)
    assert live.wait_final(uid)["status"] == "placed"
    assert len(live.ledger(uid)) == 1
    assert f"skipped: {uid} (already placed)" in failed(live, "orders", "redrive", uid)  # final: exit 1
    assert f"re-driven: {uid}" not in ok(live, "orders", "redrive", "--stuck")


def test_callbacks_list_and_replay(live):
    with CallbackReceiver(500) as receiver:
        orders = []
        for _ in range(2):
            live.knobs("*", latency_ms=1500)
            order = sample_order(callback_url=receiver.url)
            assert live.submit(order).status_code == 202
            orders.append(order["request_uid"])
        live.knobs("*", latency_ms=None)
        first, second = orders
        wait_until(
            lambda: all(uid in ok(live, "callbacks", "list") for uid in orders), 60, 0.5, "both callbacks given up"
        )
        receiver.status = 200
        assert f"replay queued: {first}" in ok(live, "callbacks", "replay", first)
        wait_until(lambda: first not in ok(live, "callbacks", "list"), 30, 0.5, "the replay delivered")
        assert second in ok(live, "callbacks", "list")
        replayed = ok(live, "callbacks", "replay", "--all")
        assert f"replay queued: {second}" in replayed and first not in replayed
        wait_until(lambda: "0 undelivered callback(s)" in ok(live, "callbacks", "list"), 30, 0.5, "all delivered")
        assert "no undelivered callback" in ok(live, "callbacks", "replay", "--all")
        assert f"delivered: {first}" in ok(live, "callbacks", "replay", "--now", first)
        receiver.status = 500
        assert f"failed, a worker retries it: {first}: HTTP 500" in failed(live, "callbacks", "replay", "--now", first)
        wait_until(lambda: first in ok(live, "callbacks", "list"), 60, 0.5, "given up again, kept for replay")
    shown = json.loads(ok(live, "orders", "show", first))["callback"]
    assert shown["state"] == "dead" and shown["replayed_by"].startswith("cli/")
    assert "has no callback" in failed(live, "callbacks", "replay", "never-seen")


def test_menus_show_and_refresh(live):
    live.warm_menu("loc-001")
    menu = json.loads(ok(live, "menus", "show", "loc-001"))
    assert menu["location_id"] == "loc-001" and {i["id"] for i in menu["items"]} >= {"item-001", "mod-001"}
    assert "no menu cached for 'loc-002'" in failed(live, "menus", "show", "loc-002")
    assert "loc-002:" in ok(live, "menus", "refresh", "loc-002") and "items" in ok(live, "menus", "refresh")
    assert json.loads(ok(live, "menus", "show", "loc-002"))["location_id"] == "loc-002"
    assert "nowhere: unknown location" in ok(live, "menus", "refresh", "nowhere")
    live.knobs("loc-003", down=True)
    assert "loc-003: unavailable" in failed(live, "menus", "refresh", "loc-003")
    live.knobs("loc-001", down=True)  # the POS answers 503: the cached menu is kept, and the CLI says so
    done = live.posbridge("menus", "refresh", "loc-001")
    assert done.returncode == 1 and "loc-001: NOT refreshed: the POS did not answer" in done.stdout, done.stdout
    assert json.loads(ok(live, "menus", "show", "loc-001"))["location_id"] == "loc-001"


def test_help_works_with_no_configuration(live):
    done = live.posbridge("--help", env={"PATH": live.stack.env["PATH"]})
    assert done.returncode == 0 and "orders" in done.stdout and "sample" in done.stdout
    done = live.posbridge("orders", "summary", env={"PATH": live.stack.env["PATH"]})
    assert done.returncode == 2 and done.stderr.count("configuration error:") == 5, done.stderr


def test_sample_submit_validate_poll_and_sign(live):
    with CallbackReceiver(200) as receiver:  # answered 200 inline (its final is called back too)
        out = ok(
            live,
            "sample",
            "submit",
            "--base-url",
            live.base_url,
            "--location",
            "loc-002",
            "--uid",
            "ord-cli-1",
            "--ttl",
            "60",
            "--callback-url",
            receiver.url,
        )
        head, _, body = out.partition("\n")
        assert head == "HTTP 200" and json.loads(body)["request_uid"] == "ord-cli-1", out
        assert json.loads(body)["status"] == "placed"
    shown = json.loads(ok(live, "orders", "show", "ord-cli-1"))
    assert shown["record"]["location_id"] == "loc-002" and shown["record"]["callback_url"] == receiver.url
    polled = ok(live, "sample", "poll", "ord-cli-1", "--base-url", live.base_url).partition("\n")[2]
    assert json.loads(polled)["status"] == "placed"
    live.knobs("*", latency_ms=1500)
    with CallbackReceiver(200) as receiver:  # a 202: the worker finishes it and sends the callback
        out = ok(
            live,
            "sample",
            "submit",
            "--base-url",
            live.base_url,
            "--uid",
            "ord-cli-2",
            "--wait",
            "--callback-url",
            receiver.url,
        )
        wait_until(lambda: receiver.bodies("ord-cli-2"), 30, 0.2, "the callback")
    live.knobs("*", latency_ms=None)
    assert out.startswith("HTTP 202") and out.count('"status":"pending"') == 1 and out.count('"status":"placed"') == 1
    validated = ok(live, "sample", "validate", "--base-url", live.base_url).partition("\n")[2]
    assert json.loads(validated)["status"] == "validated"
    assert "HTTP 404" in failed(live, "sample", "poll", "never-seen", "--base-url", live.base_url)
    assert "did not answer" in failed(live, "sample", "poll", "x", "--base-url", "http://127.0.0.1:1")
    body, digest = ok(live, "sign", "--example", "submit").splitlines()
    assert signing.verify(signing.key_from_shared_id(SHARED_ID), json.loads(body), digest)


def test_a_replay_runs_with_the_services_settings_and_records_the_operator(live, tmp_path):
    with CallbackReceiver(500) as receiver:
        live.knobs("*", latency_ms=1500)
        order = sample_order(callback_url=receiver.url)
        uid = order["request_uid"]
        assert live.submit(order).status_code == 202
        live.knobs("*", latency_ms=None)
        wait_until(lambda: uid in ok(live, "callbacks", "list"), 60, 0.5, "the callback given up")
        receiver.status = 200
        shell = {k: v for k, v in live.stack.env.items() if k != "CALLBACK_ALLOW_PRIVATE"}
        (tmp_path / "var").mkdir()
        (tmp_path / "var" / "serve.env").write_text("CALLBACK_ALLOW_PRIVATE='true'\n")  # what ./dev serve wrote
        done = live.posbridge("callbacks", "replay", "--now", uid, env=shell, cwd=str(tmp_path))
        assert done.returncode == 0 and f"delivered: {uid}: HTTP 200" in done.stdout, (done.stdout, done.stderr)
        assert receiver.bodies(uid)
    history = live.history(uid)
    assert any(h.get("by", "").startswith("cli/") and h.get("note") == "callback replay requested" for h in history)
    assert json.loads(ok(live, "orders", "show", uid))["callback"]["replayed_by"].startswith("cli/")


def test_web_starts_without_monkeypatch_warning_or_shared_control_socket(live):
    log = live.stack.log("web")
    assert "Booting worker" in log
    assert "MonkeyPatchWarning" not in log and "Control socket listening" not in log


def test_metrics_latency_histogram_one_charset_and_an_access_line_per_get(live):
    order = sample_order()
    assert live.submit(order).status_code == 200
    assert live.get_order(order["request_uid"]).status_code == 200
    live.warm_menu("loc-001")
    metrics = live.http.get(f"{live.base_url}/metrics", timeout=10)
    assert metrics.headers["Content-Type"].count("charset") == 1
    assert 'posbridge_request_seconds_bucket{code="200",endpoint="orders.get_order"' in metrics.text
    assert 'posbridge_request_seconds_count{code="200",endpoint="menus.menus"}' in metrics.text
    lines = [json.loads(line) for line in live.stack.log("web").splitlines() if line.startswith("{")]
    answered = [entry for entry in lines if entry.get("logger") == "app.requests"]
    assert any(
        e.get("endpoint") == "orders.get_order"
        and e.get("request_uid") == order["request_uid"]
        and e.get("method") == "GET"
        for e in answered
    )
    assert any(e.get("endpoint") == "menus.menus" and e.get("code") == 200 for e in answered)


def test_container_health_checks_answer_for_a_live_stack(live):
    from bin.stack import ROOT

    for kind in ("web", "possim", "beat"):
        done = subprocess.run(
            [sys.executable, "-m", "bin.healthcheck", kind],
            cwd=ROOT,
            env=live.stack.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, (kind, done.stderr)
    dead = dict(live.stack.env, PORT="1")
    done = subprocess.run(
        [sys.executable, "-m", "bin.healthcheck", "web"], cwd=ROOT, env=dead, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1 and done.stderr.startswith("unhealthy:")


def test_dev_posbridge_needs_nothing_activated():
    from bin.stack import ROOT

    done = subprocess.run(
        [str(ROOT / "dev"), "posbridge", "sample", "submit", "--help"],
        cwd="/",
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(option in done.stdout for option in ("--location", "--uid", "--ttl", "--callback-url"))


def test_a_frozen_redis_is_one_line_and_an_exit_code(live):
    """Last in the module: beat and the worker may give up on a Redis frozen this long."""
    os.kill(live.redis_server.process.pid, signal.SIGSTOP)
    try:
        done = live.posbridge("orders", "summary", timeout=60)
    finally:
        os.kill(live.redis_server.process.pid, signal.SIGCONT)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: Redis trouble: TimeoutError") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
