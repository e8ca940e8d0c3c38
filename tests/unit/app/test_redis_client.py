"""app/redis_client.py: the clients and the broker address made from REDIS_URL or through
Sentinel, their retry policy, and the 503 a demoted primary's READONLY becomes."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import ReadOnlyError
from redis.sentinel import MasterNotFoundError, SentinelConnectionPool

from app import celery_config, jsonio
from app import redis_client as clients
from app.settings import ConfigError, load_settings
from tests.conftest import BASE_ENV
from tests.support.factories import sample_order
from tests.support.helpers import build_app, send

SENTINELS = "10.0.0.1:26379, sentinel-b:26380,[::1]:26381"


def settings_with(**env):
    return load_settings({**BASE_ENV, **env})


def test_sentinels_are_read_as_host_port_pairs_with_the_master_name():
    s = settings_with(REDIS_SENTINELS=SENTINELS, REDIS_SENTINEL_MASTER="orders")
    assert s.sentinel_hosts == (("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381))
    assert s.redis_sentinel_master == "orders"
    assert settings_with().sentinel_hosts == ()
    assert settings_with(REDIS_SENTINELS=SENTINELS).redis_sentinel_master == "mymaster"


@pytest.mark.parametrize("bad", ["sentinel-a", "a:b", "a:0", "a:70000", ":26379"])
def test_a_malformed_sentinel_list_stops_the_process_naming_the_variable(bad):
    with pytest.raises(ConfigError, match="REDIS_SENTINELS"):
        settings_with(REDIS_SENTINELS=bad)


def test_without_sentinels_the_client_is_redis_url_with_readonly_and_drops_retried():
    client = clients.make_client(settings_with(REDIS_URL="redis://store.internal:6390/4"))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("store.internal", 6390, 4)
    retry = kwargs["retry"]
    assert retry.get_retries() == clients.RETRIES
    assert ReadOnlyError in retry._supported_errors and redis.exceptions.ConnectionError in retry._supported_errors
    # a timed-out write may have run: never sent twice by the client
    assert redis.exceptions.TimeoutError not in retry._supported_errors
    assert client.connection_pool.max_connections == clients.MAX_CONNECTIONS
    # a replica's refusal inside a Lua script is read as READONLY too (retried)
    assert client.connection_pool.connection_class is clients.ReadOnlyAwareConnection
    rediss = clients.make_client(settings_with(REDIS_URL="rediss://store.internal:6390/4"))
    assert rediss.connection_pool.connection_class is clients.ReadOnlyAwareSSLConnection


class Answers(redis.connection.Connection):
    """A connection whose reply is the server error it is given."""

    def __init__(self, error: str):
        super().__init__()
        self.error = error

    def read_response(self, *args, **kwargs):
        raise redis.exceptions.ResponseError(self.error)


class Aware(clients.ScriptReadOnlyAware, Answers):
    pass


@pytest.mark.parametrize(
    "reply",
    [
        "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured "
        "to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        "Error running script (call to f_0123): @user_script:1: @user_script: 1: -READONLY You can't write against a "
        "read only replica.",
    ],
)
def test_a_replicas_refusal_of_wait_or_of_a_scripts_write_is_readonly_so_retried_and_503_never_500(reply):
    # the cluster run's replica_cut_promoted: a web reached the demoted primary, its CREATE
    # (nothing to write: a duplicate) ran, DURABILITY=replica's WAIT was refused, and PAR got a 500
    with pytest.raises(ReadOnlyError):
        Aware(reply).read_response()
    with pytest.raises(redis.exceptions.ResponseError) as other:
        Aware("ERR unknown command 'WAIT2'").read_response()
    assert not isinstance(other.value, ReadOnlyError)


class Silent:
    """A reply parser whose read times out (the reply is still on its way)."""

    def read_response(self, *args, **kwargs):
        raise TimeoutError("timed out")

    def on_disconnect(self):
        pass


def test_a_sentinel_connection_whose_read_timed_out_is_closed_so_its_late_reply_answers_nothing():
    # the cluster run: a web host's link cut just after a promotion; reads timed out, the
    # connections went back to the pool open, and once the link was back a late WAIT reply (an
    # integer) answered the next request's SCRIPT EXISTS or HMGET: a 500
    pool = type("Pool", (), {"is_master": True, "check_connection": False})()
    conn = clients.ReadOnlyAwareSentinelConnection(connection_pool=pool, host="10.0.0.1", port=6379)
    conn._parser = Silent()
    conn._sock = object()
    closed = []
    conn.disconnect = lambda *args, **kwargs: closed.append(True)
    with pytest.raises(redis.exceptions.TimeoutError):
        conn.read_response()
    assert closed == [True]


def test_with_sentinels_the_client_asks_them_for_the_named_master_keeping_db_and_password():
    s = settings_with(
        REDIS_URL="redis://:pw%40rd-of-16-chars@ignored:6379/3",
        REDIS_SENTINELS=SENTINELS,
        REDIS_SENTINEL_MASTER="orders",
    )
    client = clients.make_client(s)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.is_master
    assert pool.service_name == "orders"
    assert pool.connection_class is clients.ReadOnlyAwareSentinelConnection
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw@rd-of-16-chars"
    assert ReadOnlyError in pool.connection_kwargs["retry"]._supported_errors
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ] == list(s.sentinel_hosts)


def test_a_sentinel_with_no_master_known_is_a_connection_error():
    """No primary (all Sentinels unreachable here) surfaces as ConnectionError, which errors.py maps to 503."""
    s = settings_with(REDIS_SENTINELS="127.0.0.1:1")
    with pytest.raises(redis.exceptions.ConnectionError) as caught:
        clients.make_client(s).ping()
    assert isinstance(caught.value, MasterNotFoundError)


def test_the_broker_uses_kombus_sentinel_transport_with_master_name():
    s = settings_with(
        REDIS_URL="redis://:secret-of-16-chars@ignored:6379/2",
        REDIS_SENTINELS="s1:26379,s2:26380",
        REDIS_SENTINEL_MASTER="orders",
    )
    config = celery_config(s)
    assert config["broker_url"] == "sentinel://:secret-of-16-chars@s1:26379/2;sentinel://:secret-of-16-chars@s2:26380/2"
    options = config["broker_transport_options"]
    assert options["master_name"] == "orders"
    assert options["sentinel_kwargs"] == {"password": "secret-of-16-chars", "username": None}
    assert options["max_connections"] == 1000 and options["socket_timeout"] == clients.BROKER_SOCKET_TIMEOUT


def test_without_sentinels_the_broker_is_the_url_and_options_name_no_master():
    s = settings_with()
    config = celery_config(s)
    assert config["broker_url"] == s.broker_url
    assert "master_name" not in config["broker_transport_options"]
    assert config["result_backend_transport_options"] == {}


def test_an_amqp_broker_is_left_alone_even_with_sentinels():
    s = settings_with(REDIS_SENTINELS="s1:26379", CELERY_BROKER_URL="amqp://guest@mq:5672//")
    assert clients.broker_url(s) == "amqp://guest@mq:5672//"
    assert "master_name" not in clients.broker_transport_options(s)


def test_a_redis_result_backend_follows_the_sentinels_too():
    s = settings_with(REDIS_SENTINELS="s1:26379", CELERY_RESULT_BACKEND="redis://r:6379/5")
    config = celery_config(s)
    assert config["result_backend"] == "sentinel://s1:26379/5"
    assert config["result_backend_transport_options"] == {"master_name": "mymaster"}


class ReadOnlyRedis(redis.Redis):
    """Every command refused as by a replica (a demoted primary whose retries are spent)."""

    def __init__(self):
        super().__init__(host="127.0.0.1", port=1)

    def execute_command(self, *args, **options):
        raise ReadOnlyError("You can't write against a read only replica.")

    def pipeline(self, transaction=True, shard_hint=None):
        raise ReadOnlyError("You can't write against a read only replica.")


@pytest.mark.parametrize("error", [ReadOnlyError, MasterNotFoundError])
def test_no_primary_is_503_with_retry_after_never_500(pos, tasks, token, error):
    class NoPrimary(ReadOnlyRedis):
        def execute_command(self, *args, **options):
            raise error("no primary")

    app = build_app(redis_client=NoPrimary(), pos=pos, tasks=tasks, INLINE_BUDGET_MS="20000")
    response = send(app.test_client(), "/posnext/order/submit", sample_order(uid="ord-ro1"), token=token)
    assert response.status_code == 503, response.data
    assert response.headers["Retry-After"]
    body = jsonio.loads(response.data)
    assert body["status"] == "errored" and body["errors"][0]["code"] == "service_unavailable"
    assert pos.calls == []  # nothing reached the POS


def test_beats_redbeat_client_is_made_here_through_the_sentinels_and_waits_out_a_failover(pos, tasks):
    from redbeat.schedulers import RetryingConnection, get_redis

    app = build_app(
        pos=pos,
        tasks=tasks,
        redis_client=ReadOnlyRedis(),
        REDIS_SENTINELS="s1:26379",
        REDIS_URL="redis://:pw-of-16-characters@unused:6379/2",
    )
    celery = app.extensions["celery"]
    client = get_redis(celery)  # what RedBeatScheduler uses
    assert isinstance(client, RetryingConnection)
    pool = client.wrapped_connection.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    assert pool.connection_class is clients.ReadOnlyAwareSentinelConnection
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["decode_responses"] is True
    assert pool.connection_kwargs["retry"].get_retries() == clients.BEAT_RETRIES  # waits out a failover


def test_the_web_notices_a_frozen_redis_in_a_second_the_worker_waits_out_a_slow_link(monkeypatch):
    """PAR waits on the web (and on-call on the CLI): 1 s. Nobody waits on a worker's task, which
    works through a slow link (the cluster run's 2 s round trips) rather than failing on it."""
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    from app import create_app
    from workers import flask_app

    web = create_app(settings_with()).extensions["posbridge"].redis
    worker = flask_app.extensions["posbridge"].redis
    assert web.connection_pool.connection_kwargs["socket_timeout"] == clients.SOCKET_TIMEOUT == 1.0
    assert worker.connection_pool.connection_kwargs["socket_timeout"] == clients.WORKER_SOCKET_TIMEOUT == 5.0
    replica = settings_with(DURABILITY="replica", DURABILITY_TIMEOUT_MS="2000")
    assert (
        create_app(replica).extensions["posbridge"].redis.connection_pool.connection_kwargs["socket_timeout"] == 2.5
    )  # WAIT's own time and a margin


@pytest.mark.parametrize(
    "said",
    [
        "ERR Error running script (call to f_0): @user_script:1: "
        "-READONLY You can't write against a read only replica.",
        "WAIT cannot be used with replica instances. Please also note that since Redis 4.0",
    ],
)
def test_a_replicas_refusal_inside_a_script_or_of_wait_is_read_as_readonly(monkeypatch, said):
    # Regression (issue 21's cluster run): a resubmit's pipeline (the create script, which found
    # the order and wrote nothing, then WAIT 1) reached a demoted primary: the WAIT's refusal was a
    # plain ResponseError, neither retried on the new primary nor a 503, so PAR got a 500.
    def refuse(self, *args, **kwargs):
        raise redis.exceptions.ResponseError(said)

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", refuse)
    with pytest.raises(ReadOnlyError):
        clients.ReadOnlyAwareConnection().read_response()
    said = "WRONGTYPE Operation against a key holding the wrong kind of value"  # any other error stays itself
    with pytest.raises(redis.exceptions.ResponseError) as other:
        clients.ReadOnlyAwareConnection().read_response()
    assert not isinstance(other.value, ReadOnlyError)


def test_a_sentinel_that_never_answers_costs_a_discovery_one_timeout_then_the_next_is_asked():
    """The cluster run's `replica_cut_promoted` killing redis1's host took Sentinel 1 with it, first
    in every process's REDIS_SENTINELS: a web request waited 14.8 s for a primary (PAR had hung up:
    no answer). make_sentinel passed sentinel_kwargs (for auth) that said nothing of timeouts, so
    redis-py gave the Sentinels' own connections its defaults — 5 s, and redis-py 8's ten retries of
    a timeout — instead of SENTINEL_TIMEOUT. One try of SENTINEL_TIMEOUT per Sentinel, then the next."""
    import socket
    import time

    silent = socket.create_server(("127.0.0.1", 0))  # the handshake completes in the backlog; no answer ever
    try:
        s = settings_with(REDIS_SENTINELS=f"127.0.0.1:{silent.getsockname()[1]},127.0.0.1:1")
        sentinel = clients.make_sentinel(s)
        started = time.monotonic()
        with pytest.raises(MasterNotFoundError):
            sentinel.discover_master(s.redis_sentinel_master)
        assert time.monotonic() - started < clients.SENTINEL_TIMEOUT * 2.5
    finally:
        silent.close()
