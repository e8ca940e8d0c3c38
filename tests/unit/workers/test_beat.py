"""Beat's scheduler survives a Redis that lost its data or its lock, and Redis errors."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from tests.conftest import BASE_ENV


@pytest.fixture
def scheduler(monkeypatch):
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    server = fakeredis.FakeServer()
    monkeypatch.setattr("redbeat.schedulers.get_redis", lambda app=None: fakeredis.FakeRedis(server=server))
    monkeypatch.setattr("workers.beat.get_redis", lambda app=None: fakeredis.FakeRedis(server=server))
    from workers import celery
    from workers.beat import Scheduler

    sent = []
    sched = Scheduler(app=celery, lazy=True)
    monkeypatch.setattr(sched, "apply_async", lambda entry, **kw: sent.append(entry.task))
    sched.__dict__["_maybe_due_kwargs"] = {}  # no broker: apply_async is the fake above
    sched.setup_schedule()
    sched.sent, sched.redis = sent, fakeredis.FakeRedis(server=server)
    return sched


def test_a_flushed_redis_gets_its_schedule_and_lock_back(scheduler):
    scheduler.tick()
    assert scheduler.lock.owned()
    scheduler.redis.flushall()  # a restart without persistence, a failover to a stale replica
    scheduler.tick()
    assert scheduler.lock.owned() and scheduler.redis.exists(scheduler.app.redbeat_conf.statics_key)
    assert scheduler.redis.zcard(scheduler.app.redbeat_conf.schedule_key) >= 3  # sweep, menus, trim: due again


def test_a_beat_whose_lock_another_holds_stands_by(scheduler):
    scheduler.redis.set(scheduler.lock_key, "another-beat")
    scheduler.sent.clear()
    scheduler.tick()
    assert scheduler.sent == [] and not scheduler.lock.owned()


def test_a_redis_error_skips_the_tick_instead_of_ending_beat(scheduler, monkeypatch):
    def broken(*args, **kwargs):
        raise redis.exceptions.ConnectionError("gone")

    monkeypatch.setattr("workers.beat.get_redis", broken)
    assert scheduler.tick() <= 1.0


def test_a_beat_started_while_redis_is_away_writes_its_schedule_at_the_first_tick_that_reaches_it(
    scheduler, monkeypatch
):
    """The 10,000-order run: a beat restarted while Redis loaded its AOF died in redbeat's
    setup_schedule (run by the scheduler's constructor), ConnectionError."""
    scheduler.redis.flushall()
    reach = monkeypatch.context()
    with reach as patch:

        def away(*args, **kwargs):
            raise redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")

        patch.setattr("redbeat.schedulers.get_redis", away)
        scheduler.setup_schedule()  # what the constructor runs at start: no exception
        assert not scheduler.schedule_written
    scheduler.tick()
    assert scheduler.schedule_written and scheduler.redis.exists(scheduler.app.redbeat_conf.statics_key)
