"""The names of the order store's Redis keys shared outside it (app/orders/store.py lists every
key; the archive's mover and restore write the same indexes)."""

from __future__ import annotations

OPEN_KEY, ALL_KEY, DEAD_KEY, STATS_KEY = "orders:open", "orders:by_time", "callbacks:dead", "stats:orders"
SCHEDULE_KEY, QUEUED_KEY = "schedule", "schedule:queued"
RECONCILE_KEY, FOUND_KEY = "orders:reconcile", "orders:reconcile:found"
CORRUPT_KEY = "stats:corrupt_records"


def location_key(location_id: str, status: str | None = None) -> str:
    """The recovery list's index of a location's orders, or of those in one status (a location id
    has no ':', so no location's key is another's)."""
    return f"orders:loc:{location_id}" if status is None else f"orders:loc:{location_id}:{status}"
