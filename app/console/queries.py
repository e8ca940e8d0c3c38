"""What the console's lists read: the same store calls as `posbridge orders list` and
`posbridge callbacks list` (app/cli/orders.py, app/cli/callbacks.py), each answer a list of Rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.order_reads import stuck_engine_list
from app.orders.keys import location_key
from app.orders.lifecycle import Status
from app.orders.order import Order

LIMIT = 100
STATUS_SCAN = 1000  # a status filter without a location reads at most this many recent orders
LISTS = {
    "open": "Open orders (oldest first)",
    "stuck": "Stuck orders (next move overdue, nobody took it)",
    "reconcile": "To reconcile (errored as pos_outcome_unknown: still looked up, or found at the POS)",
    "dead-callbacks": "Dead callbacks (given up, kept for replay)",
}
STATUSES = tuple(status.value for status in Status)


@dataclass
class Row:
    uid: str
    order: Order | None  # None: the record expired (retention) or cannot be read
    since: float | None = None  # when it entered the list
    notes: list[str] = field(default_factory=list)


def counts(services) -> dict[str, int]:
    store = services.store
    reconcile = store.indexes.reconcile_counts()
    return {
        "open": store.indexes.open_count(),
        "stuck": len(stuck_engine_list(services)),
        "reconcile": reconcile["open"] + reconcile["found"],
        "dead-callbacks": store.indexes.dead_callback_count(),
    }


def _rows(store, pairs: list[tuple[str, float | None]]) -> list[Row]:
    orders = store.get_many([uid for uid, _ in pairs]) if pairs else []
    return [Row(uid, order, since) for (uid, since), order in zip(pairs, orders, strict=True)]


def listed(services, kind: str, limit: int = LIMIT) -> list[Row]:
    """One of LISTS' lists."""
    store = services.store
    if kind == "open":
        return _rows(store, list(store.indexes.open_orders(limit)))
    if kind == "stuck":
        return _rows(store, [(uid, store.next_move(uid)) for uid in stuck_engine_list(services)[:limit]])
    if kind == "reconcile":
        found = store.indexes.reconcile_list(limit)
        rows = _rows(store, [(uid, since) for uid, _, since in found])
        for row, (uid, state, _) in zip(rows, found, strict=True):
            pos_order_id = store.field(uid, "rc_pos_order_id")
            row.notes.append(f"PLACED AT THE POS as {pos_order_id}" if state == "found" else "still looked up")
        return rows
    if kind == "dead-callbacks":
        rows = _rows(store, list(store.indexes.dead_callbacks(limit)))
        for row in rows:
            row.notes.append(f"last: {store.field(row.uid, 'cb_result') or '-'}" if row.order else "record expired")
        return rows
    raise KeyError(kind)


def recent(services, since: float, location: str | None, status: str | None, limit: int = LIMIT) -> list[Row]:
    """Orders created since `since`, newest first: at one location (its recovery-list index), in
    one status (that location's status index; without a location, the recent orders filtered)."""
    store = services.store
    if location and status:
        members = store.redis.zrevrangebyscore(location_key(location, status), "+inf", since, start=0, num=limit)
        uids = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        return _rows(store, [(uid, None) for uid in uids])
    uids = store.indexes.recent(
        since=since, limit=STATUS_SCAN if status else limit, location_id=location, newest_first=True
    )
    rows = _rows(store, [(uid, None) for uid in uids])
    if status:
        rows = [row for row in rows if row.order is not None and row.order.status == status]
    return rows[:limit]
