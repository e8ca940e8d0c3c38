"""The archive of final orders (issue 21): Redis keeps open and recent orders; a final order
older than ARCHIVE_AFTER_SECONDS moves here (mover.py), and every reader reads through
(OrderStore.get falls back to it). db.py: the table's reads and writes; schema.py: the table and
its migrations; scripts.py: the Redis side of a move (REMOVE) and of a callback replay (RESTORE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.archive.db import Archive, ArchiveUnavailable, Row

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = ["Archive", "ArchiveUnavailable", "Row", "open_archive"]


def open_archive(settings: Settings) -> Archive | None:
    """The archive ARCHIVE_URL names; None when it is not set (finals stay in Redis)."""
    return Archive(settings.archive_url) if settings.archive_url else None
