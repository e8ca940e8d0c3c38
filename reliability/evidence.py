"""What the reliability run's checks look at (Evidence); each reports a harness.report.Check."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.orders.order import Order
from app.times import parse_time
from harness.faults import Window
from reliability.bounds import reconcile_slack
from reliability.faults import REDIS_DOWN
from reliability.load import Journal
from reliability.receiver import Receiver

ROUNDING = 0.001  # the ledger's times (and not_after) are to the millisecond
OUTAGE = 5.0  # the longest the injector keeps Redis away (stopped up to 4 s, then its restart): no write then
DEFAULTS = {
    "RECONCILE_SECONDS": "900",
    "CLOCK_SKEW_SECONDS": "1.0",
    "SWEEP_SECONDS": "2",
    "POS_CONNECT_TIMEOUT": "2",
    "POS_READ_TIMEOUT": "10",
    "RETRY_BASE_SECONDS": "0.5",
    "RETRY_CAP_SECONDS": "30",
    "ORDER_MAX_ASYNC_SECONDS": "900",
    "CALLBACK_TIMEOUT_SECONDS": "10",
}  # the engine's defaults, for evidence that names no settings


def epoch(text: str | None) -> float:
    moment = parse_time(text)
    return moment.timestamp() if moment else 0.0


def codes(order: Order) -> str:
    return ",".join(e.get("code", "?") for e in order.doc.get("errors") or []) or "-"


@dataclass
class Evidence:
    journal: Journal
    receiver: Receiver
    windows: list[Window]
    records: dict[str, Order | None]
    ledger: list[dict]
    dead_callbacks: set[str]
    pos_calls: dict[str, dict] = field(default_factory=dict)  # external_id -> {"posts": n, "lookups": n}
    settings: dict[str, str] = field(default_factory=dict)  # the stack's settings (DEFAULTS for those not given)
    final_at: dict[str, float] = field(default_factory=dict)  # uid -> when it became final (store's clock)
    exited: list[str] = field(default_factory=list)  # processes that exited on their own during the run
    final_by: dict[str, str] = field(default_factory=dict)  # uid -> who wrote its final (web, worker, ...)
    found: set[str] = field(default_factory=set)  # orders listed for on-call (orders:reconcile:found)
    late_locations: tuple[str, ...] = ()  # locations whose POS ignores not_after (LATE_LOCATIONS)

    def ledger_for(self, uid: str) -> list[dict]:
        if not hasattr(self, "_by_uid"):
            self._by_uid: dict[str, list[dict]] = {}
            for entry in self.ledger:
                self._by_uid.setdefault(entry["external_id"], []).append(entry)
        return self._by_uid.get(uid, [])

    def live(self, uid: str) -> list[dict]:
        """The order's POS orders not voided (the ledger's `status`; accepted when it names none)."""
        return [e for e in self.ledger_for(uid) if e.get("status", "accepted") != "voided"]

    def setting(self, name: str) -> float:
        return float(self.settings.get(name, DEFAULTS[name]))

    def arrival(self, uid: str, order: Order) -> float:
        """When the order arrived: the record's, else the first call the harness made for it."""
        created = getattr(order, "created", None)
        if created:
            return float(created)
        calls = self.journal.calls_for(uid)
        return min((c.started for c in calls), default=0.0)

    def deadline(self, uid: str, order: Order) -> float:
        """The order's deadline: the record's, else request_datetime + ttl, else arrival +
        ORDER_MAX_ASYNC_SECONDS (posnext-api.md Submit 5)."""
        recorded = getattr(order, "deadline", None)
        if recorded:
            return float(recorded)
        request = order.doc
        if request.get("ttl"):
            return epoch(request.get("request_datetime")) + float(request["ttl"])
        return self.arrival(uid, order) + self.setting("ORDER_MAX_ASYNC_SECONDS")

    def reconcile_bound(self, uid: str, order: Order) -> float:
        """The latest an order may still be pending: deadline + RECONCILE_SECONDS + slack
        (reliability.bounds.reconcile_slack, plus the longest Redis outage the injector makes),
        plus, for each outage of the engine's own parts meanwhile, the time the design lets it
        cost: a killed beat may have held the schedule's lock, and nothing is dispatched until it
        expires (redbeat_lock_timeout, app/__init__.py: max(10, 5 x SWEEP_SECONDS)); a killed
        worker may have held the order's claim, which lapses after a move's length
        (Mover.claim_seconds: 3 x (connect + read) + 0.5); each Redis outage after the first
        costs another OUTAGE."""
        slack = (
            reconcile_slack(
                self.setting("CLOCK_SKEW_SECONDS"),
                self.setting("SWEEP_SECONDS"),
                self.setting("POS_CONNECT_TIMEOUT"),
                self.setting("POS_READ_TIMEOUT"),
            )
            + OUTAGE
        )
        bound = max(self.deadline(uid, order), self.arrival(uid, order)) + self.setting("RECONCILE_SECONDS") + slack
        claim = 3 * (self.setting("POS_CONNECT_TIMEOUT") + self.setting("POS_READ_TIMEOUT")) + 0.5
        costs = {
            "kill_beat": max(10.0, 5 * self.setting("SWEEP_SECONDS")),
            "kill_worker": claim,
            "worker_cut": claim,  # the cluster's: a worker host cut off holding a claim
            **dict.fromkeys(REDIS_DOWN, OUTAGE),
        }
        start, outages = self.deadline(uid, order) - max(costs.values()), 0
        for window in sorted((w for w in self.windows if w.kind in costs), key=lambda w: w.start):
            if start <= window.start <= bound:
                outages += window.kind in REDIS_DOWN
                if window.kind not in REDIS_DOWN or outages > 1:
                    bound += costs[window.kind]
        return bound
