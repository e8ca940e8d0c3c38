"""``not_after`` (pos-api.md): no order created after it, judged after the latency knob; the
ledger's created_at / not_after; calls counted per external_id; the lookup knobs."""

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from possim.app import create_app
from tests.support.possim import AUTH, TOKEN, error_code, knobs, ledger, order_body, post


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds))


@pytest.fixture
def client():
    return create_app(TOKEN, rng=random.Random(3)).test_client()


def lookup(client, external_id):
    return client.get("/orders", query_string={"external_id": external_id}, headers=AUTH)


def test_a_creation_before_not_after_is_recorded_with_it(client):
    deadline = in_(5)
    created = post(client, dict(order_body("req-ok"), not_after=deadline), key="req-ok")
    assert created.status_code == 201
    [entry] = ledger(client)["orders"]
    assert entry["not_after"] == deadline
    assert entry["received_at"] <= entry["created_at"] <= deadline


def test_a_call_arriving_after_not_after_is_refused_and_creates_nothing(client):
    late = post(client, dict(order_body("req-late"), not_after=in_(-0.5)), key="req-late")
    assert late.status_code == 422 and error_code(late) == "expired"
    assert "not_after" in late.get_json()["error"]["message"]
    assert ledger(client)["count"] == 0
    assert lookup(client, "req-late").get_json() == []


def test_the_deadline_is_judged_after_the_latency_knob(client):
    knobs(client, "loc-001", {"latency_ms": 400})
    started = time.monotonic()
    late = post(client, dict(order_body("req-slow"), not_after=in_(0.2)), key="req-slow")
    assert time.monotonic() - started >= 0.4  # it arrived in time; the creation would have been late
    assert late.status_code == 422 and error_code(late) == "expired"
    assert ledger(client)["count"] == 0


def test_an_expired_key_stays_unused_and_a_replay_of_a_made_order_is_still_answered(client):
    body = dict(order_body("req-r"), not_after=in_(0.3))
    first = post(client, body, key="req-r")
    assert first.status_code == 201
    time.sleep(0.4)
    again = post(client, body, key="req-r")  # the same order, not a new one: no creation
    assert again.status_code == 200 and again.get_json() == first.get_json()
    expired = dict(order_body("req-x"), not_after=in_(-1))
    assert post(client, expired, key="req-x").status_code == 422
    assert post(client, expired, key="req-x").status_code == 422  # never made, whoever asks again


def test_the_expired_refusal_comes_before_the_business_refusals(client):
    knobs(client, "loc-001", {"accepting_orders": False})
    late = post(client, dict(order_body("req-c"), not_after=in_(-1)), key="req-c")
    assert error_code(late) == "expired"
    assert error_code(post(client, dict(order_body("req-d"), not_after=in_(5)), key="req-d")) == "location_closed"


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T10:00:00Z",
        "2026-12-01 10:00:00.000Z",
        "2026-13-01T10:00:00.000Z",
        "2026-12-01T10:00:00.000+00:00",
        1764583200,
        True,
        "",
    ],
)
def test_a_malformed_not_after_is_a_clear_400(client, value):
    response = post(client, dict(order_body("req-bad"), not_after=value), key="req-bad")
    assert response.status_code == 400 and error_code(response) == "invalid_body"
    assert "not_after" in response.get_json()["error"]["message"]


def test_null_not_after_is_no_bound(client):
    response = post(client, dict(order_body("req-null"), not_after=None), key="req-null")
    assert response.status_code == 201 and ledger(client)["orders"][0]["not_after"] is None


def test_calls_are_counted_per_external_id_whatever_the_answer(client):
    post(client, order_body("req-a"), key="req-a")
    post(client, order_body("req-a"), key="req-a")  # replay
    knobs(client, "*", {"down": True})
    post(client, order_body("req-a"), key="req-a")  # 503
    lookup(client, "req-a")  # 503
    knobs(client, "*", {"down": None})
    lookup(client, "req-a")
    lookup(client, "req-b")
    post(client, dict(order_body("req-b"), not_after=in_(-1)), key="req-b")  # 422 expired
    calls = ledger(client)["calls"]
    assert {k: (v["posts"], v["lookups"]) for k, v in calls.items()} == {"req-a": (3, 2), "req-b": (1, 1)}
    assert calls["req-a"]["last_post_at"] >= ledger(client)["orders"][0]["created_at"]
    only = client.get("/_admin/ledger", query_string={"external_id": "req-b"}, headers=AUTH).get_json()
    assert only["count"] == 0 and list(only["calls"]) == ["req-b"]
    assert client.get("/_admin/stats", headers=AUTH).get_json()["lookups_total"] == 3
    client.post("/_admin/reset", headers=AUTH)
    assert ledger(client)["calls"] == {}


def test_lookup_down_fails_lookups_only(client):
    knobs(client, "*", {"lookup_down": True})
    assert post(client, order_body("req-l"), key="req-l").status_code == 201
    down = lookup(client, "req-l")
    assert down.status_code == 503 and error_code(down) == "pos_down"
    knobs(client, "*", {"lookup_down": None})
    assert len(lookup(client, "req-l").get_json()) == 1


def test_lookup_latency_sleeps_before_the_answer(client):
    knobs(client, "*", {"lookup_latency_ms": 300})
    started = time.monotonic()
    assert lookup(client, "req-none").get_json() == []
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("patch", [{"lookup_down": "yes"}, {"lookup_latency_ms": -1}])
def test_lookup_knobs_are_validated(client, patch):
    response = client.put("/_admin/knobs/*", json=patch, headers=AUTH)
    assert response.status_code == 400 and error_code(response) == "invalid_knobs"


def test_slower_than_starts_a_pos_beyond_the_read_timeout(tmp_path):
    import json

    from possim.cli import parse_args, start_knobs

    assert start_knobs(parse_args([])) is None
    assert start_knobs(parse_args(["--slower-than", "3"])) == {"*": {"latency_ms": 4000}}
    knobs_file = tmp_path / "knobs.json"
    knobs_file.write_text(json.dumps({"*": {"latency_ms": 5, "error_rate": 0.5}, "loc-001": {"down": True}}))
    knobs = start_knobs(parse_args(["--knobs", str(knobs_file), "--slower-than", "2.5"]))
    assert knobs == {"*": {"latency_ms": 3500, "error_rate": 0.5}, "loc-001": {"down": True}}
    app = create_app(TOKEN, knobs=knobs)
    assert app.test_client().get("/_admin/knobs", headers=AUTH).get_json()["effective"]["loc-002"]["latency_ms"] == 3500
    with pytest.raises(SystemExit):
        start_knobs(parse_args(["--slower-than", "-1"]))
