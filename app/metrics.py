"""Prometheus metrics (operations.md, "Observability").

Where each figure lives:
- web: counters and histograms of the gunicorn workers (requests, orders answered, inline-budget
  overruns, the inline POS calls' latency). PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py)
  lets GET /metrics add up every gunicorn worker.
- Redis: figures true across every process, read when /metrics is scraped (app.routes.health):
  final orders by endpoint, status and path; callback deliveries and failures; queue depth;
  open orders and the age of the oldest; callbacks given up on.
- worker: the Celery worker's own counters and histograms (the POS latency of worker attempts,
  callback attempts, worker steps) on its own endpoint, http://<worker>:WORKER_METRICS_PORT/metrics,
  when that variable is set. A worker runs on another host or container than the web as often
  as not, so it is scraped itself rather than sharing the web's multiprocess directory.
"""

from __future__ import annotations

import contextlib
import logging
import platform
from importlib import metadata

from celery.signals import worker_init
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics, start_http_server
from prometheus_client.core import GaugeMetricFamily

from app.settings import ConfigError, process_value

log = logging.getLogger(__name__)
disable_created_metrics()  # no `_created` series: the counters' own values are what is scraped
CALLBACK_STATS_KEY = "stats:callbacks"

REQUESTS = Counter("posbridge_requests_total", "HTTP answers by endpoint and status code", ["endpoint", "code"])
ORDERS = Counter(
    "posbridge_orders_total",
    "orders answered or finished by this process, by endpoint, status and path",
    ["endpoint", "status", "path"],
)
OVERRUNS = Counter("posbridge_inline_budget_overruns_total", "submits answered 202 because the budget ran out")
POS_LATENCY = Histogram(
    "posbridge_pos_call_seconds",
    "POS call latency by operation and outcome",
    ["operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REQUEST_LATENCY = Histogram(
    "posbridge_request_seconds",
    "HTTP request latency by endpoint and status code",
    ["endpoint", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CALLBACKS = Counter("posbridge_callbacks_total", "callback delivery attempts by outcome", ["outcome"])
RECONCILE_OPENED = Counter(
    "posbridge_reconcile_opened_total", "orders errored as pos_outcome_unknown whose lookups go on"
)
RECONCILE_FOUND = Counter(
    "posbridge_reconcile_found_total",
    "orders errored as pos_outcome_unknown that the POS turned out to have (on-call: see `orders list --reconcile`)",
)
SWEEP_KEY = "sweep:last_success"
WORKER_STEPS = Counter("posbridge_worker_steps_total", "worker attempts at an order by result", ["result"])


class BuildInfo:
    """posbridge_build_info{version, python} 1: which build answers (the web adds it at scrape
    time beside its multiprocess figures; the worker registers it on its own endpoint)."""

    def collect(self):
        try:
            version = metadata.version("posbridge")
        except metadata.PackageNotFoundError:
            version = "unknown"
        info = GaugeMetricFamily("posbridge_build_info", "the running build", labels=["version", "python"])
        info.add_metric([version, platform.python_version()], 1)
        yield info


CHILDREN_MAX = 4096
_children: dict[tuple, object] = {}


def child(metric, *values: str):
    """metric.labels(*values), kept: labels() checks the values and takes a lock on every call,
    for the same child each time (no child is ever removed here)."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = metric.labels(*values)
        if len(_children) < CHILDREN_MAX:
            _children[key] = found
    return found


def observe_pos(operation: str, outcome: str, seconds: float) -> None:
    child(POS_LATENCY, operation, outcome).observe(seconds)


def count_callback(redis, outcome: str) -> None:
    """A callback attempt's outcome (delivered, failed, given_up): here and, for /metrics, in Redis."""
    CALLBACKS.labels(outcome).inc()
    redis.hincrby(CALLBACK_STATS_KEY, outcome, 1)


def observe_request(endpoint: str, code: int, seconds: float) -> None:
    code_text = str(code)
    child(REQUESTS, endpoint, code_text).inc()
    child(REQUEST_LATENCY, endpoint, code_text).observe(seconds)


def worker_metrics_port(env=None) -> int | None:
    """WORKER_METRICS_PORT: the port of the worker's own /metrics; unset, empty, 0 or off: none."""
    try:
        return process_value("WORKER_METRICS_PORT", env)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None


def serve_worker_metrics(**_kwargs) -> None:
    """At Celery worker start: serve this worker's metrics, if WORKER_METRICS_PORT says where."""
    port = worker_metrics_port()
    if port is None:
        return
    address = process_value("WORKER_METRICS_ADDRESS")
    with contextlib.suppress(ValueError):  # registered by an earlier start in this process
        REGISTRY.register(BuildInfo())
    try:
        start_http_server(port, addr=address)
    except OSError as exc:  # the worker's real work matters more than its metrics: say so and go on
        log.error("worker metrics endpoint not started", extra={"port": port, "error": str(exc)})
        return
    log.info("worker metrics endpoint started", extra={"port": port, "address": address})


worker_init.connect(serve_worker_metrics, weak=False)


def register_request_hooks(app) -> None:
    """The hooks every request passes: forget the previous request's request_uid (a gevent worker
    serves a keep-alive connection's requests in one greenlet); count the answer and its latency
    by endpoint and code, and log one JSON access line (GETs, polls and menu reads included; with
    its request_uid when it has one)."""
    import time

    from flask import g, request

    from app.logs import bind_request_uid

    access = logging.getLogger("app.requests")

    @app.before_request
    def _forget_request_uid():
        bind_request_uid(None)
        g.started = time.monotonic()

    @app.after_request
    def _count_answer(response):
        endpoint = request.url_rule.endpoint if request.url_rule else "unrouted"
        seconds = time.monotonic() - g.get("started", time.monotonic())
        observe_request(endpoint, response.status_code, seconds)
        extra = {
            "method": request.method,
            "path": request.path[:200],
            "endpoint": endpoint,
            "code": response.status_code,
            "ms": round(seconds * 1000, 1),
        }
        if g.get("answer_status"):
            extra["status"] = g.get("answer_status")
        if request.view_args and isinstance(request.view_args.get("request_uid"), str):
            extra.setdefault("request_uid", request.view_args["request_uid"])
        access.info("answered", extra=extra)
        return response
