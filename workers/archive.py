"""Beat's archive work (queue `maintenance`): the mover (final orders older than
ARCHIVE_AFTER_SECONDS leave Redis for the archive) and the archive's retention. Both do nothing
without ARCHIVE_URL. One mover at a time (a lock in Redis; two would only repeat each other's
writes, harmlessly). The archive away: the run stops before anything leaves Redis (logged and
counted: posbridge_archive_failures_total), and the next run starts over."""

from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app.archive import ArchiveUnavailable
from app.archive.mover import LOCK_KEY, ArchiveMover

log = logging.getLogger(__name__)
LOCK_SECONDS = 600


def _mover() -> ArchiveMover | None:
    services = current_app.extensions["posbridge"]
    if services.archive is None:
        return None
    return ArchiveMover(services.store, services.archive, services.settings.archive_after_seconds)


@shared_task(name="workers.archive.move_finals", ignore_result=True, send_events=False)
def move_finals() -> int:
    mover = _mover()
    if mover is None or not mover.redis.set(LOCK_KEY, "1", nx=True, ex=LOCK_SECONDS):
        return 0
    try:
        return mover.run().moved
    except ArchiveUnavailable:
        return 0
    finally:
        mover.redis.delete(LOCK_KEY)


@shared_task(name="workers.archive.retention", ignore_result=True, send_events=False)
def retention() -> int:
    mover = _mover()
    if mover is None:
        return 0
    try:
        return mover.retention(current_app.extensions["posbridge"].settings.order_retention_days * 86400)
    except ArchiveUnavailable:
        log.warning("archive unavailable: retention pass skipped")
        return 0
