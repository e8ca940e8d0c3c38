"""Reads of the order store that the on-call CLI and the order console share."""

from __future__ import annotations


def stuck_engine_list(services) -> list[str]:
    """Open orders whose next move is overdue: nobody took them (the sweep is not running?)."""
    return services.store.indexes.overdue_orders(services.settings.dispatch_grace)


def claim_until(store, uid: str) -> float | None:
    """When the order's move claim (o_claim, o_until: Redis ms) lapses; None when nobody holds it."""
    try:
        until = float(store.field(uid, "o_until") or 0) / 1000
    except ValueError:
        return None
    return until if store.field(uid, "o_claim") and until > 0 else None
