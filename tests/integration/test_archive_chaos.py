"""The mover killed at random and PostgreSQL stopped at random (issue 21, 2 and 4), on a real
redis-server and a throwaway PostgreSQL: a mover process moving in small batches is SIGKILLed
every few hundred milliseconds and restarted, PostgreSQL crashes (`pg_ctl -m immediate`) and
comes back every few seconds, and meanwhile a reader checks that every order is in Redis or in
the archive (Redis read first), never in neither, and that its final never changed. At the end
every order is archived exactly once and the recovery list gives each once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import redis as redis_lib

from app import create_app, jsonio
from app.archive import Archive, ArchiveUnavailable
from app.archive.mover import ArchiveMover
from app.archive.schema import migrate
from app.settings import load_settings
from bench.archive_figures import ENV, SECRET, copy, place
from bin.stack import ROOT, EmbeddedRedis
from tests.support.factories import make_token
from tests.support.fakes import FakePos, FakeTasks
from tests.support.postgres import Cluster

ORDERS, PLACED, CHAOS_SECONDS = 1500, 50, 30.0
MOVER = """
import sys, time
from app import create_app
from app.archive import ArchiveUnavailable
from app.archive.mover import ArchiveMover
services = create_app().extensions["posbridge"]
print("up", flush=True)
while True:
    try:
        ArchiveMover(services.store, services.archive, after_seconds=-3600, batch=25).run(max_batches=4)
    except ArchiveUnavailable:
        time.sleep(0.05)
"""


@pytest.fixture
def world(tmp_path):
    server = EmbeddedRedis(appendonly=False).start()
    cluster = Cluster()
    cluster.start()
    yield server, cluster
    cluster.remove()
    server.stop()


def _start_mover(env: dict) -> subprocess.Popen:
    """A mover process, returned once its app is up (it says so) and it begins to move."""
    mover = subprocess.Popen([sys.executable, "-c", MOVER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert mover.stdout is not None and mover.stdout.readline().strip() == "up"
    return mover


def _present(client, archive: Archive, uid: str, pending: set) -> dict | None:
    """The order's doc from Redis, else from the archive (None when the archive is down: checked later)."""
    doc = client.hget(f"order:{uid}", "doc")
    if doc is not None:
        return jsonio.loads(doc)
    try:
        row = archive.get(uid)
    except ArchiveUnavailable:
        pending.add(uid)
        return None
    assert row is not None, f"{uid} is in neither place"
    return jsonio.loads(row.record["doc"])


def test_the_mover_and_postgresql_killed_at_random_lose_and_change_nothing(world):
    server, cluster = world
    client = redis_lib.Redis.from_url(server.url)
    archive = Archive(cluster.url, timeout=1.0)
    migrate(archive.engine, time.time())
    app = create_app(load_settings(ENV), redis_client=client, pos=FakePos(), tasks=FakeTasks(), archive=archive)
    place(app, client, PLACED)
    copy(client, PLACED, ORDERS)
    uids = [f"a-{index}" for index in range(ORDERS)]
    expected = {uid: jsonio.loads(client.hget(f"order:{uid}", "doc")) for uid in uids}
    assert all(doc["status"] == "placed" for doc in expected.values())

    env = {**os.environ, **ENV, "REDIS_URL": server.url, "ARCHIVE_URL": cluster.url}
    rng, pending, kills, crashes = random.Random(21), set(), 0, 0
    mover = _start_mover(env)
    pg_down_until, next_crash = 0.0, time.monotonic() + rng.uniform(1, 3)
    next_kill = time.monotonic() + rng.uniform(0.1, 0.6)
    end = time.monotonic() + CHAOS_SECONDS
    try:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_kill:
                mover.send_signal(signal.SIGKILL)
                mover.wait(10)
                kills += 1
                mover = _start_mover(env)
                # killed at a random moment of its moving, not of its start-up (a loaded machine's
                # start-up can outlast any interval, and a mover killed before it moves tests nothing)
                next_kill = time.monotonic() + rng.uniform(0.2, 1.0)
            if pg_down_until == 0.0 and now >= next_crash:
                cluster.stop("immediate")
                crashes += 1
                pg_down_until = now + rng.uniform(0.5, 2.0)
            elif pg_down_until and now >= pg_down_until:
                cluster.start()
                pg_down_until, next_crash = 0.0, now + rng.uniform(1, 4)
            for uid in rng.sample(uids, 50):  # every order readable, its final unchanged
                doc = _present(client, archive, uid, pending)
                assert doc is None or doc == expected[uid], uid
    finally:
        mover.send_signal(signal.SIGKILL)
        mover.wait(10)
        if pg_down_until:
            cluster.start()
    assert kills >= 10 and crashes >= 3
    assert archive.count() >= ORDERS // 4  # the mover did move, through the kills and crashes
    for uid in sorted(pending):
        row = archive.get(uid)
        assert row is not None and jsonio.loads(row.record["doc"]) == expected[uid], uid
    run = ArchiveMover(app.extensions["posbridge"].store, archive, after_seconds=-3600).run(max_batches=10**6)
    assert run.backlog == 0 and archive.count() == ORDERS and client.zcard("orders:by_time") == 0
    for uid in uids:
        assert not client.exists(f"order:{uid}")
        assert jsonio.loads(archive.get(uid).record["doc"]) == expected[uid]
    web, auth, seen, cursor = app.test_client(), {"Authorization": f"Bearer {make_token(SECRET)}"}, [], None
    while True:
        query = "/posnext/orders?location_id=loc-001&limit=97&" + (
            f"cursor={cursor}" if cursor else "since=2000-01-01T00:00:00Z"
        )
        page = web.get(query, headers=auth).json
        seen += [o["request_uid"] for o in page["orders"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(uids) and len(seen) == ORDERS
    archive.engine.dispose()
