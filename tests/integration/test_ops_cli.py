"""The on-call CLI against a real stack: `flask --app app.wsgi orders|callbacks|menus ...`,
run as a subprocess with the stack's environment, each command as the runbook uses it."""

from __future__ import annotations

import json

import pytest

from bin.sample import sample_order
from tests.support.live import CallbackReceiver, wait_until


@pytest.fixture(autouse=True)
def pos(live):
    live.reset_pos()
    yield
    live.reset_pos()


def ok(live, *args) -> str:
    done = live.cli(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr[-2000:])
    return done.stdout


def failed(live, *args) -> str:
    done = live.cli(*args)
    assert done.returncode != 0, (args, done.stdout)
    return done.stdout + done.stderr


def test_orders_show_list_and_summary(live):
    order = sample_order()
    uid = order["request_uid"]
    assert live.submit(order).status_code == 200
    shown = json.loads(ok(live, "orders", "show", uid))
    assert shown["status"] == "placed" and shown["record"]["order_details"]["pos_order_id"].startswith("P-")
    assert [h["status"] for h in shown["history"]][0] == "pending" and shown["history"][-1]["status"] == "placed"
    assert shown["path"] == "inline" and shown["next_move_at"] is None
    assert "no order 'never-seen'" in failed(live, "orders", "show", "never-seen")
    recent = ok(live, "orders", "list").splitlines()
    assert recent[0].startswith(uid) and "placed" in recent[0]  # newest first
    assert uid in ok(live, "orders", "list", "--location", "loc-001")
    assert uid not in ok(live, "orders", "list", "--location", "loc-002")
    summary = json.loads(ok(live, "orders", "summary"))
    assert summary["final_orders"].get("submit|placed|inline", 0) >= 1
    assert {"open_orders", "stuck_orders", "oldest_open_seconds", "queue_depth", "callbacks_undelivered",
            "menus_cached"} <= set(summary)
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
        assert ("re-driven", "cli") in [(h.get("note"), h["by"]) for h in live.history(uid)]
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
    assert "skipped" in ok(live, "orders", "redrive", uid)  # final: nothing to do
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
        wait_until(lambda: all(uid in ok(live, "callbacks", "list") for uid in orders), 60, 0.5,
                   "both callbacks given up")
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
        # a replay that fails is owed again: retried on the schedule, then kept for replay again
        assert f"retry: {first}: HTTP 500" in failed(live, "callbacks", "replay", "--now", first)
        wait_until(lambda: first in ok(live, "callbacks", "list"), 60, 0.5, "kept for replay again")
    shown = json.loads(ok(live, "orders", "show", first))["callback"]
    assert shown["state"] == "dead" and shown["replayed_by"] == "cli"
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
    live.knobs("loc-001", down=True)  # the truth: the refresh failed; the cached menu is kept
    assert "loc-001: unavailable" in failed(live, "menus", "refresh", "loc-001")
    assert json.loads(ok(live, "menus", "show", "loc-001"))["location_id"] == "loc-001"
