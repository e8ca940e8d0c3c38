"""Finding orders nobody is working on: the web process died mid-request, a task vanished."""

from __future__ import annotations

from app.orders.store import OrderStore


def due_orders(store: OrderStore, now: float, budget: float, grace: float) -> list[str]:
    """Open orders with no lease whose next move is overdue by more than `grace` seconds,
    or whose deadline has passed with no move planned after it (a worker must close them).
    An order a worker is still looking up past its deadline has its next move planned."""
    due = []
    for uid, _ in store.open_orders():
        order = store.get(uid)
        if order is None or order.final or store.lease_left(uid) > 0:
            continue
        expected = max(order.next_at, order.created + budget)
        if now > expected + grace or now > order.deadline >= order.next_at:
            due.append(uid)
    return due
