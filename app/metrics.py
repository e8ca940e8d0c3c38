"""Prometheus metrics (operations.md, "Observability").

Counters and histograms live in the process that observes them; under gunicorn with several
workers, PROMETHEUS_MULTIPROC_DIR makes /metrics add them up. Figures that must be true
across every process (orders by final status, queue depth, oldest pending order, callbacks
given up) are read from Redis when /metrics is scraped, by app.routes.health.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("posbridge_requests_total", "HTTP answers by endpoint and status code",
                   ["endpoint", "code"])
ORDERS = Counter("posbridge_orders_total", "orders answered or finished by this process, by endpoint, status and path",
                 ["endpoint", "status", "path"])
OVERRUNS = Counter("posbridge_inline_budget_overruns_total", "submits answered 202 because the budget ran out")
POS_LATENCY = Histogram("posbridge_pos_call_seconds", "POS call latency by operation and outcome",
                        ["operation", "outcome"],
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CALLBACKS = Counter("posbridge_callbacks_total", "callback delivery attempts by outcome", ["outcome"])
WORKER_STEPS = Counter("posbridge_worker_steps_total", "worker attempts at an order by result", ["result"])


def observe_pos(operation: str, outcome: str, seconds: float) -> None:
    POS_LATENCY.labels(operation, outcome).observe(seconds)
