"""OpenTelemetry traces: on when OTEL_EXPORTER_OTLP_ENDPOINT (or POSBRIDGE_TRACES_FILE) is set.

Off (the default), nothing here imports opentelemetry, and the callers check `active()` (a
global read) before anything else: tests/unit/app/test_tracing_off.py checks that a submit
imports none of it.

On, one trace follows an order: Flask's span for PAR's request, Redis commands (redis-py),
the POS call (urllib3: the POS adapter's lean session sends through requests' HTTPAdapter,
below the Session.send that requests' instrumentation wraps; the callbacks' full Session path
is traced by requests' and nests urllib3's under it), the send of the task, and the worker's
run of it with its own Redis and POS spans.

The task's send is traced here, not by opentelemetry-instrumentation-celery: its publish
handlers find the task by name in the sender's registry, and the web sends by name
(app/tasks.py) tasks it never imports, so its before_task_publish started a span that its
after_task_publish never found: never ended nor exported, its context left attached. We
start a PRODUCER span around send_task and inject W3C `traceparent` into the message
headers; Celery hands message headers to the worker as `task.request` attributes, where the
instrumentation's task_prerun extracts it (its consumer side, kept). With the gevent pool,
each task runs in its own greenlet, which has its own contextvars, and the instrumentation
keys its spans by task id: concurrent tasks do not mix.

A move that beat's sweep sends again (workers/sweep.py) would belong to the sweep's trace.
The first send of an order's task stores its traceparent (`trace:order:<uid>`, one SET NX
with a day's expiry); a re-send is parented to it, with a link to the sweep's span, and so is
a send outside any trace (the CLI's redrive or replay).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from opentelemetry.sdk.trace.export import SpanExporter

    from app.settings import Settings

log = logging.getLogger(__name__)
SCOPE = "posbridge"
TRACE_KEY = "trace:order:{}"
TRACE_TTL = 86400  # a move re-sent later than this after the first send starts a trace of its own
EXCLUDED_URLS = "healthz,readyz,metrics"  # probes and scrapes: no trace each
_provider: Any = None  # this process's TracerProvider once installed
enabled = False  # read as a plain attribute on every request (no call when traces are off)


def active() -> bool:
    return enabled


def wanted(settings: Settings) -> bool:
    return bool(settings.otel_endpoint or settings.traces_file)


def setup(settings: Settings) -> bool:
    """Once per process (every process builds its app through create_app): the provider, its
    exporters, and the process-wide instrumentations. False, importing nothing, when off."""
    if active() or not wanted(settings):
        return active()
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}), sampler=sampler())
    if settings.otel_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if settings.traces_file:
        exporter_file = cast("SpanExporter", FileExporter(settings.traces_file))  # a SpanExporter by its methods
        provider.add_span_processor(SimpleSpanProcessor(exporter_file))
    trace.set_tracer_provider(provider)
    install(provider)
    return True


def install(provider) -> None:
    """Instrument redis-py, urllib3, requests and Celery's task runs with `provider` (tests pass
    an in-memory one); Flask apps are instrumented one by one (`instrument_app`)."""
    global _provider, enabled
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for instrumentor in (RedisInstrumentor(), URLLib3Instrumentor(), RequestsInstrumentor()):
        instrumentor.instrument(tracer_provider=provider)
    celery = CeleryInstrumentor()
    celery.instrument(tracer_provider=provider)
    _drop_publish_handlers(celery)
    _provider, enabled = provider, True


def uninstall() -> None:
    """Undo `install` (tests)."""
    global _provider, enabled
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for instrumentor in (RedisInstrumentor(), URLLib3Instrumentor(), RequestsInstrumentor(), CeleryInstrumentor()):
        instrumentor.uninstrument()
    _provider, enabled = None, False


def _drop_publish_handlers(instrumentor) -> None:
    """Keep the instrumentation's task_prerun/postrun (the worker's side); drop its publish
    handlers, which leak a span for a task sent by name (see the module's docstring)."""
    from celery import signals

    signals.before_task_publish.disconnect(instrumentor._trace_before_publish)
    signals.after_task_publish.disconnect(instrumentor._trace_after_publish)


def sampler():
    """Parent-based; a trace starts at a request, a task run or a send, never at a bare client
    call: kombu's polling and heartbeats, beat's lock ticks and flower's reads are Redis calls
    outside any of those, and would otherwise each be a trace of one span."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
    from opentelemetry.trace import SpanKind

    class Roots(Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ):
            chosen = ALWAYS_OFF if kind == SpanKind.CLIENT else ALWAYS_ON
            return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return "posbridge.Roots"

    return ParentBased(root=Roots())


def instrument_app(app: Flask) -> None:
    """Flask's request spans for this app (no-op when off)."""
    if not active():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS)


def tag_request_uid(uid: str | None) -> None:
    """The order's id on the current span (search a trace by request_uid)."""
    if uid is None or not active():
        return
    from opentelemetry import trace

    trace.get_current_span().set_attribute("posbridge.request_uid", uid)


def current_trace_id() -> str | None:
    """The current span's trace id as backends show it (32 hex digits); None outside a trace."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def order_traces(redis) -> OrderTraces | None:
    """What app/tasks.py uses to trace its sends; None when off."""
    return OrderTraces(redis) if active() else None


class OrderTraces:
    """Sends of order tasks: a PRODUCER span whose context rides in the message headers."""

    def __init__(self, redis):
        from opentelemetry import trace

        self.redis = redis
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=_provider)

    @contextmanager
    def sending(self, name: str, uid: str, again: bool = False) -> Iterator[dict[str, str]]:
        """Yields the headers for send_task. `again` (the sweep's re-send), or a send outside any
        trace (the CLI's redrive, say): parented to the order's first send when that is stored,
        and linked to the current (sweep's) span, if any."""
        from opentelemetry import trace
        from opentelemetry.propagate import extract, inject

        parent, links = None, None
        here = trace.get_current_span().get_span_context()
        if again or not here.is_valid:
            stored = self._stored(uid)
            if stored:
                parent = extract({"traceparent": stored})
                links = [trace.Link(here)] if here.is_valid else None
        attributes: dict[str, str | bool] = {
            "celery.task_name": name,
            "posbridge.request_uid": uid,
            "posbridge.resend": again,
        }
        with self.tracer.start_as_current_span(
            f"send {name}", context=parent, kind=trace.SpanKind.PRODUCER, links=links, attributes=attributes
        ):
            headers: dict[str, str] = {}
            inject(headers)
            yield headers
        if not again and "traceparent" in headers:
            self._remember(uid, headers["traceparent"])

    def _stored(self, uid: str) -> str | None:
        try:
            value = self.redis.get(TRACE_KEY.format(uid))
        except Exception as exc:  # noqa: BLE001 - a trace is never worth failing a send
            log.debug("trace context unreadable", extra={"request_uid": uid, "error": type(exc).__name__})
            return None
        return value.decode() if isinstance(value, bytes) else value

    def _remember(self, uid: str, traceparent: str) -> None:
        try:
            self.redis.set(TRACE_KEY.format(uid), traceparent, nx=True, ex=TRACE_TTL)
        except Exception as exc:  # noqa: BLE001 - as above
            log.debug("trace context not stored", extra={"request_uid": uid, "error": type(exc).__name__})


class FileExporter:
    """Spans as JSON lines appended to a file (POSBRIDGE_TRACES_FILE): one write per span, so
    several processes can share the file."""

    def __init__(self, path: str):
        self.path = path

    def export(self, spans) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = "".join(span.to_json(indent=None) + "\n" for span in spans).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines)
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
