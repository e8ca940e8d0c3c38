"""Late placements (issue 18): a POS that ignores not_after may create an order after its
deadline. The engine looks such an order up for RECONCILE_SECONDS and voids what it finds made
late; when the POS refuses the void (409 not_voidable) the order is listed for on-call
(orders:reconcile:found), and `placed` if the deciding lookup found it.

The invariant here: no POS order created after its deadline stays live unnoticed: each is
voided, or its order is listed. (That a `placed` order has exactly one live POS order and any
other final none, but a listed one, is check_pos_orders, reliability.invariants.)

The POS's `created_at` is on the POS's clock and the deadline on the store's, so the engine
judges "after the deadline" with its stated allowance, CLOCK_SKEW_SECONDS (operations.md: two
hosts' clocks compared only with a stated skew allowance; app/orders/decide.py after_lookup):
a POS order created within it of the deadline is taken as on time and kept. The check allows
the same and counts those apart (`within_skew`), so the table shows how many there were.
"""

from __future__ import annotations

from app.orders.order import Order
from harness.report import Check
from reliability.evidence import ROUNDING, Evidence, epoch


def late_entries(ev: Evidence) -> list[tuple[dict, Order]]:
    """(ledger entry, order) for every POS order created after its order's deadline."""
    out = []
    for entry in ev.ledger:
        order = ev.records.get(entry["external_id"])
        if order is not None and epoch(entry["created_at"]) > ev.deadline(order.uid, order) + ROUNDING:
            out.append((entry, order))
    return out


def check_late_placements(ev: Evidence) -> tuple[Check, dict]:
    skew = ev.setting("CLOCK_SKEW_SECONDS")
    check = Check(
        f"no POS order created after its deadline (+{skew:g}s CLOCK_SKEW_SECONDS) left live unnoticed "
        "(voided, or listed for on-call)"
    )
    stats = {"voided": 0, "listed": 0, "within_skew": 0, "unnoticed": 0}
    for entry, order in late_entries(ev):
        check.checked += 1
        if entry.get("status") == "voided":
            stats["voided"] += 1
        elif order.uid in ev.found:
            stats["listed"] += 1
        elif epoch(entry["created_at"]) <= ev.deadline(order.uid, order) + skew:
            stats["within_skew"] += 1
        else:
            stats["unnoticed"] += 1
            late = epoch(entry["created_at"]) - ev.deadline(order.uid, order)
            check.fail(
                f"{order.uid}: {order.status}, POS order {entry['pos_order_id']} created {late:.3f}s after "
                "the deadline is live and not listed for on-call"
            )
    return check, stats
