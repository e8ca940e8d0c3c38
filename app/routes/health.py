"""/healthz, /readyz and /metrics: no JWT. (The hooks every request passes, counting and logging
its answer: app/metrics.py, register_request_hooks.)"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from app import jsonio
from app.metrics import CALLBACK_STATS_KEY, SWEEP_KEY, BuildInfo
from app.readiness import readiness_of
from app.settings import process_value
from app.tasks import queue_depths

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def _json(body: dict, status: int = 200):
    return current_app.response_class(jsonio.dumps(body), status=status, mimetype="application/json")


@bp.get("/healthz")
def healthz():
    return _json({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Redis, the broker and the durability setting (app/readiness.py): 503 naming what fails."""
    checks = readiness_of(current_app).checks()
    ready = all(v == "ok" for v in checks.values())
    response = _json({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)
    if not ready:
        response.headers["Retry-After"] = "5"
    return response


class StoreCollector:
    """Figures true across every process, read from Redis at scrape time. All are read before any
    is given: while Redis does not answer, /metrics still does (the process's own figures), with
    posbridge_metrics_redis_up 0 and without these (absent, not 0)."""

    def __init__(self, services):
        self.services = services

    def collect(self):
        from redis.exceptions import RedisError

        try:
            families = list(self._families())
        except RedisError as exc:
            log.warning("metrics without Redis", extra={"error": type(exc).__name__})
            families = []
        yield GaugeMetricFamily(
            "posbridge_metrics_redis_up",
            "1 when the figures read from Redis are in this scrape, 0 when Redis did not answer",
            value=1 if families else 0,
        )
        yield from families

    def _families(self):
        store, redis = self.services.store, self.services.redis
        finals = CounterMetricFamily(
            "posbridge_orders_final",
            "orders that reached a final status, all processes",
            labels=["endpoint", "status", "path"],
        )
        for key, count in store.indexes.stats().items():
            finals.add_metric(key.split("|", 2), count)
        yield finals
        yield GaugeMetricFamily("posbridge_orders_open", "orders not yet final", value=store.indexes.open_count())
        yield GaugeMetricFamily(
            "posbridge_oldest_pending_order_seconds",
            "age of the oldest open order",
            value=store.indexes.oldest_open_age(),
        )
        depth = GaugeMetricFamily("posbridge_queue_depth", "messages waiting in each Celery queue", labels=["queue"])
        for queue, count in queue_depths(redis).items():
            depth.add_metric([queue], count)
        yield depth
        yield GaugeMetricFamily(
            "posbridge_callbacks_undelivered",
            "callbacks given up on, kept for replay",
            value=store.indexes.dead_callback_count(),
        )
        deliveries = CounterMetricFamily(
            "posbridge_callback_deliveries",
            "callback attempts by outcome (delivered, failed, given_up), all workers",
            labels=["outcome"],
        )
        for outcome, count in redis.hgetall(CALLBACK_STATS_KEY).items():
            deliveries.add_metric([outcome.decode() if isinstance(outcome, bytes) else outcome], int(count))
        yield deliveries
        last_sweep = redis.get(SWEEP_KEY)
        yield GaugeMetricFamily(
            "posbridge_sweep_last_success_timestamp_seconds",
            "Unix time of the last completed sweep (0: none yet): alert when it stops",
            value=float(last_sweep or 0),
        )
        yield GaugeMetricFamily(
            "posbridge_schedule_overdue_seconds",
            "how long the most overdue move in the schedule has been due",
            value=store.indexes.overdue_open(),
        )
        reconcile = GaugeMetricFamily(
            "posbridge_reconcile_orders",
            "orders errored as pos_outcome_unknown: still looked up (open) or found at the POS after all (found)",
            labels=["state"],
        )
        for state, count in store.indexes.reconcile_counts().items():
            reconcile.add_metric([state], count)
        yield reconcile
        yield CounterMetricFamily(
            "posbridge_unreadable_records", "order records skipped as unreadable", value=store.indexes.corrupt_count()
        )


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    if process_value("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    output = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(BuildInfo())
    extra.register(StoreCollector(current_app.extensions["posbridge"]))
    output += generate_latest(extra)
    # content_type, not mimetype: Flask would append a second "; charset=utf-8" to it
    return current_app.response_class(output, content_type=CONTENT_TYPE_LATEST)
