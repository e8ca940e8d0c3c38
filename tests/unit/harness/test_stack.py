"""harness/stack.py: a stack's environment, built before anything starts; possim.py's calls."""

import fakeredis
import pytest
import requests

from harness.possim import KNOB_FIELDS
from harness.stack import LocalStack, Secrets

SECRETS = Secrets("unit-jwt-secret-0123456789abcdef0123", "UnitShared-0123456789", "unit-pos-token")


def test_a_short_stack_has_short_settings_its_ports_and_its_secrets(tmp_path):
    stack = LocalStack(str(tmp_path), SECRETS, env={"RETRY_CAP_SECONDS": "4"})
    env = stack.env
    assert env["PORT"] == str(stack.web_port) and env["POSSIM_PORT"] == str(stack.pos_port)
    assert env["POS_BASE_URL"] == stack.pos_url == f"http://127.0.0.1:{stack.pos_port}"
    assert (env["PAR_JWT_SECRET"], env["PAR_SHARED_ID"], env["POS_API_TOKEN"]) == (
        SECRETS.jwt_secret,
        SECRETS.shared_id,
        SECRETS.pos_token,
    )
    assert env["REDIS_URL"] == stack.redis_server.url
    assert env["RETRY_CAP_SECONDS"] == "4"  # an override wins
    assert env["SWEEP_SECONDS"] == "1"  # bin/stack.short_env's
    assert stack.stack.log_dir == tmp_path / "logs"
    assert stack.pos.headers["Authorization"] == f"Bearer {SECRETS.pos_token}"


def test_a_plain_stack_leaves_the_service_defaults(tmp_path):
    stack = LocalStack(str(tmp_path), SECRETS, short=False, env={"WEB_CONCURRENCY": 3})
    assert "SWEEP_SECONDS" not in stack.env and "PORT" not in stack.env
    assert stack.env["WEB_CONCURRENCY"] == "3"
    assert stack.env["WEB_BIND"] == "127.0.0.1"


class _Answer:
    def __init__(self, payload):
        self.payload = payload

    def json(self):
        return self.payload

    def raise_for_status(self):
        return None


def test_clearing_the_knobs_sends_every_knob_as_null_for_all_and_each_location(tmp_path, monkeypatch):
    stack = LocalStack(str(tmp_path), SECRETS)
    sent = []
    monkeypatch.setattr(stack.pos, "put", lambda url, json, timeout: sent.append((url, json)) or _Answer({}))
    stack.clear_knobs(("loc-001",))
    assert [url.rsplit("/", 1)[1] for url, _ in sent] == ["*", "loc-001"]
    assert all(body == dict.fromkeys(KNOB_FIELDS) for _, body in sent)


def test_an_orders_calls_are_those_the_ledger_names_or_none(tmp_path, monkeypatch):
    stack = LocalStack(str(tmp_path), SECRETS)
    view = {"orders": [{"external_id": "a"}], "calls": {"a": {"posts": 2}}}
    monkeypatch.setattr(stack.pos, "get", lambda url, timeout, params=None: _Answer(view))
    assert stack.pos_calls("a") == {"posts": 2}
    assert stack.pos_calls("b") == {}
    assert stack.ledger() == [{"external_id": "a"}]


def test_start_redis_waits_until_the_store_answers(tmp_path, monkeypatch):
    stack = LocalStack(str(tmp_path), SECRETS)
    monkeypatch.setattr(stack.redis_server, "start", lambda: stack.redis_server)
    stack.redis = fakeredis.FakeRedis()
    stack.start_redis(timeout=5)


def test_start_redis_gives_up_when_the_store_never_answers(tmp_path, monkeypatch):
    stack = LocalStack(str(tmp_path), SECRETS)
    monkeypatch.setattr(stack.redis_server, "start", lambda: stack.redis_server)
    with pytest.raises(TimeoutError):
        stack.start_redis(timeout=0)
    assert isinstance(stack.pos, requests.Session)
