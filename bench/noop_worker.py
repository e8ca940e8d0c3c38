"""Bare Celery for the workers baseline: the service's own Celery settings and a task doing nothing.

Started with the Procfile's worker command, `-A workers` swapped for `-A bench.noop_worker`,
on the same broker: what Celery costs per task before any of our work.
"""

from __future__ import annotations

from celery import Celery

from app import celery_config
from app.settings import load_settings
from bench.stacks import NOOP_TASK

celery = Celery("bench-noop")
config = celery_config(load_settings())
config.pop("beat_schedule")
config["imports"] = ()
celery.config_from_object(config)


@celery.task(name=NOOP_TASK, acks_late=True)
def noop() -> None:
    return None
