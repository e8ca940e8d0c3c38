"""The POS simulator's admin calls (possim's /_admin): its knobs, its ledger, its counters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

KNOB_FIELDS = (
    "latency_ms",
    "latency_jitter_ms",
    "error_rate",
    "error_status",
    "ambiguous_error_rate",
    "down",
    "hang_seconds",
    "accepting_orders",
    "items",
    "lookup_down",
    "lookup_latency_ms",
    "void_window_ms",
)


class PosAdmin:
    """Mixed into a stack: `pos_url` is where its simulator listens."""

    pos_url: str

    def __init__(self, token: str):
        self.pos = requests.Session()
        self.pos.headers["Authorization"] = f"Bearer {token}"

    def knobs(self, location: str = "*", **fields: Any) -> None:
        self.pos.put(f"{self.pos_url}/_admin/knobs/{location}", json=fields, timeout=10).raise_for_status()

    def clear_knobs(self, locations: Iterable[str] = ()) -> None:
        """Every knob back to its default (a merge patch of nulls), for all and for each of
        `locations`; the ledger is kept."""
        for location in ("*", *locations):
            self.knobs(location, **dict.fromkeys(KNOB_FIELDS))

    def reset_pos(self) -> None:
        self.pos.post(f"{self.pos_url}/_admin/reset", timeout=30).raise_for_status()

    def ledger(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.ledger_view(30)["orders"]
        return orders

    def ledger_view(self, timeout: float = 60) -> dict[str, Any]:
        """The ledger's orders and its calls per external_id ({"posts": n, "lookups": n})."""
        view: dict[str, Any] = self.pos.get(f"{self.pos_url}/_admin/ledger", timeout=timeout).json()
        return view

    def pos_calls(self, uid: str) -> dict[str, int]:
        """The simulator's calls for one order ({"posts": n, "lookups": n, "voids": n}; {} none yet)."""
        view = self.pos.get(f"{self.pos_url}/_admin/ledger", params={"external_id": uid}, timeout=10).json()
        calls: dict[str, int] = view["calls"].get(uid, {})
        return calls

    def pos_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.pos.get(f"{self.pos_url}/_admin/stats", timeout=10).json()
        return stats
