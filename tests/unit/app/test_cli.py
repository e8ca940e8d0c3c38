"""The posbridge CLI on the real app over fakeredis (click's CliRunner): help without
configuration, every configuration problem at once, one line for Redis trouble, menus refresh
telling the truth, replays recorded as the operator's, and control characters escaped in every
output (issue 11, finding 14)."""

from __future__ import annotations

import json
import time
import unicodedata

import pytest
from click.testing import CliRunner

from app import signing
from app.cli import main
from app.orders.store import DEAD_KEY, OrderStore
from app.times import parse_time
from tests.conftest import BASE_ENV, SHARED_ID
from tests.support.factories import create_order

ESCAPES = "\x1b[2J\x1b]0;owned\x07\r\x9b31m\u202e"


@pytest.fixture
def run(app, monkeypatch, tmp_path):
    """posbridge ARGS in this app's context (as `flask --app` runs them), from an empty directory."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args, **kwargs):
        with app.app_context():
            return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)

    return invoke


def bare(*args, env=None, tmp_path=None):
    """posbridge ARGS with nothing configured (or only `env`), no app context."""
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        return runner.invoke(main, list(args), env={**dict.fromkeys(BASE_ENV), **(env or {})}, catch_exceptions=False)


def test_help_needs_no_configuration(tmp_path):
    done = bare("--help", tmp_path=tmp_path)
    assert done.exit_code == 0
    for command in ("serve", "orders", "callbacks", "menus", "sample", "sign", "token", "config", "flask"):
        assert command in done.output
    for group in ("orders", "callbacks", "menus", "sample", "flask"):
        helped = bare(group, "--help", tmp_path=tmp_path)
        assert helped.exit_code == 0 and "Traceback" not in helped.output, (group, helped.output)
    assert "routes" in bare("flask", "--help", tmp_path=tmp_path).output
    sample = bare("sample", "submit", "--help", tmp_path=tmp_path).output
    assert all(option in sample for option in ("--location", "--uid", "--ttl", "--callback-url"))


def test_every_configuration_problem_is_listed_at_once(tmp_path):
    done = bare("orders", "summary", env={"INLINE_BUDGET_MS": "fast"}, tmp_path=tmp_path)
    assert done.exit_code == 2 and "Traceback" not in done.output
    for name in ("REDIS_URL", "POS_BASE_URL", "POS_API_TOKEN", "PAR_SHARED_ID", "PAR_JWT_SECRET", "INLINE_BUDGET_MS"):
        assert f"configuration error: {name}:" in done.output, name
    assert bare("config", "check", tmp_path=tmp_path).exit_code == 2


def test_unreachable_redis_is_one_line_and_exit_3(tmp_path):
    done = bare("orders", "summary", env=dict(BASE_ENV, REDIS_URL="redis://127.0.0.1:1/0"), tmp_path=tmp_path)
    assert done.exit_code == 3
    assert done.output.startswith("error: Redis trouble: ConnectionError") and done.output.count("\n") == 1
    assert "Traceback" not in done.output


def test_config_comes_from_dotenv_and_a_running_serve(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        with open(".env", "w") as fh:
            fh.write("".join(f"{k}={v}\n" for k, v in BASE_ENV.items() if k != "PAR_JWT_SECRET"))
        import os

        os.mkdir("var")
        with open("var/serve.env", "w") as fh:
            fh.write("PAR_JWT_SECRET='from-serve-0123456789012345678901'\n")
        done = runner.invoke(main, ["config", "check"], env=dict.fromkeys(BASE_ENV))
    assert done.exit_code == 0 and "configuration ok" in done.output


def order_with(services, uid: str, location: str, final: bool = False, **doc):
    """An order written through the store as the engine writes one: open, or made final."""
    store: OrderStore = services.store
    body = {
        "request_uid": uid,
        "location_id": location,
        "status": "pending",
        "request_type": "place-order",
        "order_details": {},
        **doc,
    }
    # an open order's creator claim lapses at once (nobody holds it); a final one is finished under it
    _, token = create_order(store, uid, "fp", body, None, 60, "test", 5 if final else 0.001, "menu:none")
    time.sleep(0.01)
    if final:
        applied, why, *_ = store.finish(uid, token, doc={**body, "status": "placed"}, by="test", note="placed")
        assert applied, why
    return body


def given_up(services, uid: str, result: str) -> None:
    """The callback as the engine leaves one it gave up on: in callbacks:dead with its last result."""
    services.redis.zadd(DEAD_KEY, {uid: time.time()})
    services.redis.hset(f"order:{uid}", mapping={"cb_result": result, "callback": "dead"})


def test_control_characters_are_escaped_in_every_output(run, services):
    uid = "ord-escape"
    order_with(services, uid, f"loc{ESCAPES}")
    given_up(services, uid, f"HTTP 500 {ESCAPES}")
    outputs = [
        run("orders", "list").output,
        run("orders", "list", "--open").output,
        run("orders", "show", uid).output,
        run("callbacks", "list").output,
        run("orders", "show", f"x{ESCAPES}").output,
        run("menus", "show", f"x{ESCAPES}").output,
    ]
    for output in outputs:
        assert not [c for c in output if unicodedata.category(c) in ("Cc", "Cf") and c != "\n"], repr(output)
    assert "loc\\x1b[2J" in outputs[0] and "\\x9b31m" in outputs[0] and "\\u202e" in outputs[0]
    assert "\\r" in outputs[3] or "\\x0d" in outputs[3]


def test_menus_refresh_fails_when_the_pos_does_not_answer(run, services, pos):
    assert run("menus", "refresh", "loc-001").exit_code == 0  # cached now
    pos.down = True
    done = run("menus", "refresh", "loc-001")
    assert done.exit_code == 1 and "loc-001: NOT refreshed" in done.output
    done = run("menus", "refresh", "loc-002")
    assert done.exit_code == 1 and "loc-002: unavailable" in done.output
    pos.down = False
    done = run("menus", "refresh")
    assert done.exit_code == 0 and "loc-001: " in done.output and "items" in done.output


def test_a_replay_is_recorded_as_the_operators(run, services, tasks):
    uid = "ord-replay"
    order_with(services, uid, "loc-001", final=True, callback_url="http://127.0.0.1:1/cb")
    given_up(services, uid, "HTTP 500")
    done = run("callbacks", "replay", uid)
    assert done.exit_code == 0 and f"replay queued: {uid}" in done.output, done.output
    assert any(str(h.get("by", "")).startswith("cli/") for h in services.store.history(uid)), services.store.history(
        uid
    )
    assert services.store.get(uid).callback_by.startswith("cli/")


def test_a_replay_now_uses_the_loaded_settings(run, services):
    uid = "ord-replay-now"
    order_with(services, uid, "loc-001", final=True, callback_url="http://127.0.0.1:1/cb")
    given_up(services, uid, "HTTP 500")
    done = run("callbacks", "replay", "--now", uid)  # these settings refuse private addresses
    assert done.exit_code == 1 and "refused" in done.output, done.output


def test_redrive_notes_the_operator(run, services, tasks):
    order_with(services, "ord-redrive", "loc-001")
    done = run("orders", "redrive", "ord-redrive")
    assert done.exit_code == 0 and "re-driven: ord-redrive" in done.output
    assert any(str(h.get("by", "")).startswith("cli/") for h in services.store.history("ord-redrive")), (
        services.store.history("ord-redrive")
    )


def test_sign_prints_the_digest_of_a_body(tmp_path):
    env = {**BASE_ENV}
    body = {
        "request_uid": "u1",
        "location_id": "loc-001",
        "order_details": {"online_order_id": "o", "grand_total": 10.0, "subtotal": 9.0},
        "request_datetime": "2026-12-01T10:00:00.000Z",
    }
    done = (
        bare("sign", input=None, env=env, tmp_path=tmp_path)
        if False
        else CliRunner().invoke(main, ["sign"], input=json.dumps(body), env=env)
    )
    assert done.exit_code == 0
    assert done.output.strip() == signing.sign(signing.key_from_shared_id(SHARED_ID), body)
    example = CliRunner().invoke(main, ["sign", "--example", "submit"], env=env).output.splitlines()
    assert signing.verify(signing.key_from_shared_id(SHARED_ID), json.loads(example[0]), example[1])
    again = json.loads(CliRunner().invoke(main, ["sign", "--example", "submit"], env=env).output.splitlines()[0])
    assert again["request_uid"] != json.loads(example[0])["request_uid"]  # fresh: not a used uid
    assert abs(parse_time(again["request_datetime"]).timestamp() - time.time()) < 60  # fresh: not expired
    assert CliRunner().invoke(main, ["sign"], input="not json", env=env).exit_code == 1


def test_orders_show_text_is_a_timeline_with_who_holds_the_claim(run, services):
    """Issue 20, finding 7: `orders show --text`, for a person: status, deadline, the claim's
    holder (o_claim/o_until), the callback, and the history one line per move."""
    uid = "ord-text"
    body = {
        "request_uid": uid,
        "location_id": "loc-001",
        "status": "pending",
        "request_type": "place-order",
        "order_details": {},
    }
    _, token = create_order(services.store, uid, "fp", body, None, 60, "web", 30, "menu:none")
    done = run("orders", "show", "--text", uid)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split()[:3] == [uid, "pending", "loc-001"], lines
    claim = next(line for line in lines if line.startswith("claim:"))
    assert f"held by {token[:8]}" in claim and "until" in claim, claim
    assert any(line.split()[1:4] == ["pending", "web", "received"] for line in lines if line.startswith("  ")), lines
    order_with(services, "ord-text-final", "loc-001", final=True)
    shown = run("orders", "show", "--text", "ord-text-final").output
    assert "claim: none" in shown and "placed" in shown.splitlines()[0]


def test_redrive_of_a_final_order_exits_1(run, services):
    order_with(services, "ord-placed", "loc-001", final=True)
    done = run("orders", "redrive", "ord-placed")
    assert done.exit_code == 1 and "skipped: ord-placed (already placed)" in done.output


def test_orders_cancel_stops_an_open_order_recorded_as_the_operators(run, services):
    order_with(services, "ord-cx", "loc-001")
    done = run("orders", "cancel", "ord-cx", "--reason", "stuck on a down POS")
    assert done.exit_code == 0 and "ord-cx: cancelled" in done.output, done.output
    assert services.store.get("ord-cx").status == "cancelled"
    entry = services.store.history("ord-cx")[-1]
    assert entry["by"].startswith("cli/") and entry["note"] == "stuck on a down POS"


def test_orders_cancel_of_a_placed_order_exits_1_and_changes_nothing(run, services):
    order_with(services, "ord-done", "loc-001", final=True)
    done = run("orders", "cancel", "ord-done")
    assert done.exit_code == 1 and "not cancellable" in done.output
    assert services.store.get("ord-done").status == "placed"


def test_orders_cancel_wait_reports_the_decision_once_the_pos_answered(run, services, monkeypatch):
    order_with(services, "ord-wait", "loc-001")
    services.redis.hset("order:ord-wait", "pos_body", "{}")  # a POST may have reached the POS
    answers = iter([(202, {"status": "pending", "cancel_requested_at": "x"}), (200, {"status": "cancelled"})])
    monkeypatch.setattr(services.service, "cancel", lambda *args: next(answers))
    monkeypatch.setattr(services.service, "answer", lambda uid: next(answers))
    done = run("orders", "cancel", "ord-wait", "--wait", "5")
    assert done.exit_code == 0 and "ord-wait: cancelled" in done.output, done.output
