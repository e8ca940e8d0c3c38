"""app/redis_client.py HiredisParser and the store clients' pool on a real redis-server: the pool-checkout
probe finds a reply left over and a connection the server closed, and under gevent it no
longer goes through gevent's poll emulation (the hub) when there is nothing to read."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app import redis_client as clients
from app.redis_client import HiredisParser
from app.settings import load_settings
from bin.stack import ROOT, EmbeddedRedis
from tests.conftest import BASE_ENV


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    embedded = EmbeddedRedis(directory=str(tmp_path_factory.mktemp("redis")), appendonly=False).start()
    yield embedded
    embedded.stop()


def store_client(server):
    return clients.make_client(load_settings({**BASE_ENV, "REDIS_URL": server.url}))


@pytest.fixture
def client(server):
    made = store_client(server)
    yield made
    made.connection_pool.disconnect()


def readable_within(connection, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if connection.can_read():
            return True
        time.sleep(0.005)
    return False


def test_the_store_clients_parse_with_it_and_an_idle_connection_reads_as_idle(client):
    assert client.connection_pool.connection_kwargs["parser_class"] is HiredisParser
    client.ping()
    connection = client.connection_pool.get_connection()
    try:
        assert isinstance(connection._parser, HiredisParser)
        assert connection.can_read() is False
    finally:
        client.connection_pool.release(connection)


def test_a_connection_holding_a_reply_left_over_is_not_handed_out_as_it_is(client):
    """redis-py 8's default (maintenance notifications "auto") skips this check: the next
    command got the stale reply (b"left over")."""
    connection = client.connection_pool.get_connection()
    try:
        connection.send_command("ECHO", "left over")  # its reply never read
        assert readable_within(connection)
    finally:
        client.connection_pool.release(connection)
    assert client.echo("mine") == b"mine"


def test_a_connection_the_server_closed_is_found_by_the_probe(client, server):
    client.ping()
    connection = client.connection_pool.get_connection()
    other = store_client(server)
    try:
        port = connection._sock.getsockname()[1]
        own = next(c["id"] for c in other.client_list() if c["addr"].endswith(f":{port}"))
        assert other.client_kill_filter(_id=own) == 1
        with pytest.raises(RedisConnectionError):
            readable_within(connection)  # EOF on the socket: closed, not "data"
    finally:
        client.connection_pool.release(connection)
        other.connection_pool.disconnect()
    assert client.ping() is True  # and the pool reconnects


GEVENT_PROBE = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import select, sys
    from app import redis_client as clients
    from app.settings import load_settings
    from tests.conftest import BASE_ENV

    if sys.argv[2] == "stock":  # the control: redis-py's own parser
        clients.HIREDIS_AVAILABLE = False
    calls = []
    emulated = select.poll  # gevent's poll, as a monkey-patched process has it

    def counting():
        calls.append(1)
        return emulated()

    select.poll = counting
    client = clients.make_client(load_settings({**BASE_ENV, "REDIS_URL": sys.argv[1]}))
    client.set("k", "v")
    for _ in range(200):
        assert client.get("k") == b"v"
    print(len(calls))
""")


def gevent_polls(server, parser: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_PROBE, server.url, parser],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_under_gevent_an_idle_connection_is_probed_without_gevents_poll(server):
    """redis-py's own parser calls (gevent's) select.poll once per command; this one, never."""
    assert gevent_polls(server, "stock") >= 200
    assert gevent_polls(server, "ours") == 0
