"""The Tasks protocol (app/tasks.py) is what the service hands work to: the production
CeleryTasks and the tests' FakeTasks both are one, method for method, signature for signature."""

from __future__ import annotations

import inspect

import pytest
from celery import Celery

from app.tasks import CeleryTasks, Tasks
from tests.support.fakes import FakeTasks

METHODS = ("send", "place_order", "deliver_callback", "reconcile_order")


@pytest.mark.parametrize(
    "tasks", [CeleryTasks(Celery("protocol", broker="memory://")), FakeTasks()], ids=["CeleryTasks", "FakeTasks"]
)
def test_the_celery_tasks_and_the_fake_are_tasks(tasks):
    assert isinstance(tasks, Tasks)
    for name in METHODS:
        assert inspect.signature(getattr(type(tasks), name)) == inspect.signature(getattr(Tasks, name)), name
