"""Beat's archive work (queue `maintenance`): the mover (final orders older than
ARCHIVE_AFTER_SECONDS leave Redis for the archive) and the archive's retention. Both do nothing
without ARCHIVE_URL. One mover at a time (a lock in Redis; two would only repeat each other's
writes, harmlessly), held for LOCK_SECONDS and renewed after each batch, so a mover SIGKILLed
mid-run holds moving up for LOCK_SECONDS at most; its value names the holder (host:pid). The archive away: the run stops
before anything leaves Redis (logged and counted: posbridge_archive_failures_total), and the next
run starts over."""

from __future__ import annotations

import logging
import os
import socket

from celery import shared_task
from flask import current_app

from app.archive import ArchiveUnavailable
from app.archive.mover import LOCK_KEY, ArchiveMover

log = logging.getLogger(__name__)
LOCK_SECONDS = 30  # a batch takes well under a second; a killed holder's lock is gone this soon


def _mover(on_written=None) -> ArchiveMover | None:
    services = current_app.extensions["posbridge"]
    if services.archive is None:
        return None
    return ArchiveMover(
        services.store, services.archive, after_seconds=services.settings.archive_after_seconds, on_written=on_written
    )


@shared_task(name="workers.archive.move_finals", ignore_result=True, send_events=False)
def move_finals() -> int:
    holder, redis = f"{socket.gethostname()}:{os.getpid()}", current_app.extensions["posbridge"].redis

    def renew(_committed) -> None:  # after each batch's commit: held for LOCK_SECONDS more
        redis.set(LOCK_KEY, holder, xx=True, ex=LOCK_SECONDS)

    mover = _mover(renew)
    if mover is None or not mover.redis.set(LOCK_KEY, holder, nx=True, ex=LOCK_SECONDS):
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
