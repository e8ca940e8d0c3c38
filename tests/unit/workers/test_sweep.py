"""Beat's sweep: every due move in the schedule handed to a worker once per grace, by kind;
the time of its last success recorded for /metrics."""

from __future__ import annotations

import pytest

from app.metrics import SWEEP_KEY
from tests.conftest import BASE_ENV


@pytest.fixture(autouse=True)
def _worker_env(monkeypatch):
    """Importing workers/ builds the worker's app from the environment."""
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)


def test_the_sweep_sends_each_due_move_by_kind_once_and_records_its_success(app, services, tasks):
    from workers.sweep import sweep_orders

    redis = services.redis
    redis.hset("order:a", mapping={"status": "pending", "doc": "{}"})
    redis.hset("order:b", mapping={"status": "placed", "doc": "{}", "cb": "owed"})
    redis.zadd("schedule", {"o:a": 0, "c:b": 0, "r:c": 0, "o:later": 9e15})
    with app.app_context():
        assert sweep_orders.run() == 3
        assert sweep_orders.run() == 0  # their tasks are queued: not sent again within the grace
    assert sorted(tasks.sent) == [("deliver_callback", "b"), ("place_order", "a"), ("reconcile_order", "c")]
    assert float(redis.get(SWEEP_KEY)) > 0


def test_maintenance_tasks_send_no_events_so_flower_shows_order_tasks(app):
    from workers import orders, sweep

    assert not sweep.sweep_orders.send_events and not sweep.refresh_menus.send_events
    assert orders.place_order.send_events
