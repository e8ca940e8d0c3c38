"""/metrics and /readyz (issue 20, deliver 2 and 3): the build's version, the figures that need
Redis flagged by posbridge_metrics_redis_up, readiness that names the durability problem."""

from __future__ import annotations

import socket
import time
from importlib import metadata

import pytest
import redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from app import create_app
from app.redis_client import make_client
from app.settings import load_settings
from bin.stack import EmbeddedRedis


def test_metrics_name_the_build(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'posbridge_build_info{python="' in text
    assert f'version="{metadata.version("posbridge")}"}} 1.0' in text


def test_metrics_say_redis_answered(client):
    assert "posbridge_metrics_redis_up 1.0" in client.get("/metrics").get_data(as_text=True)


@pytest.fixture
def frozen_redis():
    """A Redis that accepts connections and never answers (a SIGSTOPped redis-server: the kernel
    still completes the handshake from the listen backlog)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


@pytest.fixture
def frozen_app(env, frozen_redis, pos, tasks):
    return create_app(load_settings({**env, "REDIS_URL": frozen_redis}), pos=pos, tasks=tasks)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_frozen_redis_is_a_timeout_error_within_1_5_s(env, frozen_redis):
    client = make_client(load_settings({**env, "REDIS_URL": frozen_redis}))
    started = time.monotonic()
    with pytest.raises(RedisTimeoutError):
        client.ping()
    assert time.monotonic() - started < 1.5
    started = time.monotonic()
    with pytest.raises(RedisTimeoutError):
        client.get("k")
    assert time.monotonic() - started < 1.5


def test_readyz_and_metrics_answer_within_1_5_s_of_a_frozen_redis(frozen_app):
    client = frozen_app.test_client()
    ready, seconds = timed(lambda: client.get("/readyz"))
    assert ready.status_code == 503 and ready.headers["Retry-After"], ready.json
    assert ready.json["checks"]["redis"] == "unreachable: TimeoutError" and seconds < 1.5, (ready.json, seconds)
    scraped, seconds = timed(lambda: client.get("/metrics"))
    text = scraped.get_data(as_text=True)
    assert scraped.status_code == 200 and seconds < 1.5, seconds
    assert "posbridge_metrics_redis_up 0.0" in text and "posbridge_build_info" in text
    assert "posbridge_orders_open" not in text  # a figure Redis could not give is left out, not 0


def test_readyz_names_the_durability_problem_and_checks_it_every_few_seconds(client, services, monkeypatch):
    problem = "DURABILITY=fsync needs appendonly yes and appendfsync always; the server has appendonly no"
    calls = []
    monkeypatch.setattr(services.store.durability, "check", lambda redis: calls.append(redis) or problem)
    first, second = client.get("/readyz"), client.get("/readyz")
    assert first.status_code == second.status_code == 503
    assert first.json["checks"] == {"redis": "ok", "broker": "ok", "durability": problem}
    assert len(calls) == 1  # cached: probes stay cheap
    monkeypatch.setattr(services.store.durability, "check", lambda redis: None)
    monkeypatch.setattr("app.readiness.DURABILITY_CHECK_SECONDS", 0)
    assert client.get("/readyz").json == {
        "status": "ready",
        "checks": {"redis": "ok", "broker": "ok", "durability": "ok"},
    }


@pytest.fixture(scope="module")
def real_redis(tmp_path_factory):
    embedded = EmbeddedRedis(directory=str(tmp_path_factory.mktemp("redis"))).start()
    yield embedded
    embedded.stop()


def test_readyz_reuses_a_pooled_connection(env, real_redis, pos, tasks):
    """Issue 23, finding 8: a probe every few seconds must not open a connection each time."""
    app = create_app(load_settings({**env, "REDIS_URL": real_redis.url}), pos=pos, tasks=tasks)
    client, watcher = app.test_client(), redis.Redis.from_url(real_redis.url)
    assert client.get("/readyz").status_code == 200, client.get("/readyz").json
    before = int(watcher.info("stats")["total_connections_received"])
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert int(watcher.info("stats")["total_connections_received"]) - before <= 1
