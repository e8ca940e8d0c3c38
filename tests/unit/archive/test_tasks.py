"""Beat's archive tasks (workers/archive.py) and `posbridge archive migrate`."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app import celery_config
from app.archive.db import make_engine
from app.archive.mover import LOCK_KEY
from app.archive.schema import LATEST, current
from app.cli import main
from app.settings import load_settings
from tests.conftest import BASE_ENV
from tests.support.factories import sample_order


@pytest.fixture(autouse=True)
def _worker_env(monkeypatch):
    """Importing workers/ builds the worker's app from the environment."""
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)


def test_beat_runs_the_mover_and_the_retention_on_the_maintenance_queue():
    config = celery_config(load_settings({**BASE_ENV, "ARCHIVE_AFTER_SECONDS": "172800"}))
    schedule = config["beat_schedule"]
    assert schedule["archive-move"] == {"task": "workers.archive.move_finals", "schedule": 60.0}
    assert schedule["archive-retention"]["task"] == "workers.archive.retention"
    assert config["task_routes"]["workers.archive.*"] == {"queue": "maintenance"}
    short = celery_config(load_settings({**BASE_ENV, "ARCHIVE_AFTER_SECONDS": "4"}))["beat_schedule"]
    assert short["archive-move"]["schedule"] == 1.0  # a short ARCHIVE_AFTER_SECONDS moves often


def test_the_task_moves_once_at_a_time(app, services, post, archive):
    from workers import archive as tasks

    services.settings = dataclasses.replace(services.settings, archive_after_seconds=-60)  # every final is due
    assert post("/posnext/order/submit", sample_order(uid="t-1")).status_code == 200
    with app.app_context():
        services.redis.set(LOCK_KEY, "1")  # another mover is running
        assert tasks.move_finals.run() == 0 and archive.get("t-1") is None
        services.redis.delete(LOCK_KEY)
        assert tasks.move_finals.run() == 1 and archive.get("t-1") is not None
        assert not services.redis.exists(LOCK_KEY)
        assert not tasks.move_finals.send_events


def test_the_tasks_do_nothing_without_an_archive(settings, redis_client, pos, tasks):
    from app import create_app
    from workers import archive as archive_tasks

    bare = create_app(settings, redis_client=redis_client, pos=pos, tasks=tasks)
    with bare.app_context():
        assert archive_tasks.move_finals.run() == 0 and archive_tasks.retention.run() == 0


def test_migrate_is_idempotent(archive_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHIVE_URL", archive_url)
    first = CliRunner().invoke(main, ["archive", "migrate"], catch_exceptions=False)
    assert first.exit_code == 0 and f"applied {LATEST}" in first.output
    again = CliRunner().invoke(main, ["archive", "migrate"], catch_exceptions=False)
    assert again.exit_code == 0 and "applied" not in again.output
    engine = make_engine(archive_url)
    with engine.connect() as conn:
        assert current(conn) == LATEST
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("archived_orders")}
    engine.dispose()
    assert {"archived_orders_by_location", "archived_orders_by_created"} <= indexes


def test_a_killed_movers_lock_lapses_within_seconds_and_each_batch_renews_it(app, services, post, monkeypatch):
    # Regression (issue 21, the reliability run): the lock was taken for 600 s and given back
    # only in `finally`, so a worker SIGKILLed mid-run stopped every mover for ten minutes.
    import os
    import socket

    from workers import archive as tasks

    services.settings = dataclasses.replace(services.settings, archive_after_seconds=-60)
    assert post("/posnext/order/submit", sample_order(uid="t-2")).status_code == 200
    seen, real = [], tasks.ArchiveMover

    class Spy(real):
        def __init__(self, *args, on_written=None, **kwargs):
            def hook(committed):
                services.redis.expire(LOCK_KEY, 1)  # nearly lapsed by the time the batch is written
                on_written(committed)
                seen.append((services.redis.get(LOCK_KEY), services.redis.ttl(LOCK_KEY)))

            super().__init__(*args, on_written=hook, **kwargs)

    monkeypatch.setattr(tasks, "ArchiveMover", Spy)
    with app.app_context():
        assert tasks.move_finals.run() == 1
    assert tasks.LOCK_SECONDS <= 60
    assert seen == [(f"{socket.gethostname()}:{os.getpid()}".encode(), tasks.LOCK_SECONDS)]
    assert not services.redis.exists(LOCK_KEY)
