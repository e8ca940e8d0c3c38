"""Traces on (app/tracing.py), with the SDK's in-memory exporter: a submit is one trace from the
request through Redis and the POS call to the task's send, whose context rides in the message
headers; a re-send by the sweep joins the order's trace."""

from __future__ import annotations

import threading

import pytest
import requests
from celery import Celery
from werkzeug.serving import make_server

from app import tracing
from app.orders.lifecycle import Move
from app.pos.rest import RestPos
from app.tasks import PLACE_ORDER, CeleryTasks
from tests.support.factories import sample_order

SIM_TOKEN = "pos-token-123"


@pytest.fixture(scope="module")
def possim():
    from possim.app import create_app

    server = make_server("127.0.0.1", 0, create_app(SIM_TOKEN), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def budget_ms() -> str:
    return "20000"


@pytest.fixture
def env(env, budget_ms):
    return {**env, "INLINE_BUDGET_MS": budget_ms}


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()


@pytest.fixture
def pos(possim):
    client = RestPos(possim, SIM_TOKEN, connect_timeout=1.0, read_timeout=2.0)
    yield client
    client.session.close()


@pytest.fixture
def celery():
    return Celery("traced", broker="memory://")


@pytest.fixture
def tasks(celery, redis_client, spans):
    return CeleryTasks(celery, traces=tracing.order_traces(redis_client))


@pytest.fixture
def app(spans, settings, redis_client, pos, tasks):  # traces on before the app is made
    from app import create_app

    flask_app = create_app(settings, redis_client=redis_client, pos=pos, tasks=tasks)
    flask_app.testing = True
    return flask_app


def queued_headers(celery, queue: str = "orders") -> list[dict]:
    with celery.connection_for_read() as connection:
        queue_ = connection.SimpleQueue(queue, no_ack=True)
        found = []
        while True:
            try:
                found.append(queue_.get(timeout=0.1).headers)
            except queue_.Empty:
                return found


def ancestors(span, by_id) -> list:
    chain = [span]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    return chain


def test_a_submit_is_one_trace_of_request_redis_and_pos_call(post, spans):
    body = sample_order()
    response = post("/posnext/order/submit", body)
    assert response.status_code == 200, response.body

    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind.name == "SERVER"]
    assert len(server) == 1 and server[0].name.endswith("/posnext/order/submit")
    assert server[0].attributes["posbridge.request_uid"] == body["request_uid"]
    trace_id = server[0].context.trace_id
    assert {s.context.trace_id for s in finished} == {trace_id}
    by_id = {s.context.span_id: s for s in finished}
    redis = [s for s in finished if s.attributes.get("db.system") == "redis"]
    pos_posts = [s for s in finished if s.kind.name == "CLIENT" and s.name == "POST"]
    assert redis and len(pos_posts) == 1
    for span in redis + pos_posts:
        assert ancestors(span, by_id)[-1] is server[0], span.name
    assert (
        pos_posts[0].attributes.get("http.status_code", pos_posts[0].attributes.get("http.response.status_code")) == 201
    )


@pytest.mark.parametrize("budget_ms", ["300"])  # the POS's 1.5 s overruns it
def test_a_handed_off_order_sends_its_task_with_the_request_trace(post, spans, possim, celery, redis_client, budget_ms):
    requests.put(
        f"{possim}/_admin/knobs/*",
        json={"latency_ms": 1500},
        timeout=5,
        headers={"Authorization": f"Bearer {SIM_TOKEN}"},
    ).raise_for_status()
    try:
        body = sample_order()
        response = post("/posnext/order/submit", body)
    finally:
        requests.post(f"{possim}/_admin/reset", timeout=5, headers={"Authorization": f"Bearer {SIM_TOKEN}"})
    assert response.status_code == 202, response.body

    finished = spans.get_finished_spans()
    server = next(s for s in finished if s.kind.name == "SERVER")
    send = next(s for s in finished if s.name == f"send {PLACE_ORDER}")
    assert send.kind.name == "PRODUCER" and send.context.trace_id == server.context.trace_id
    assert send.attributes["posbridge.request_uid"] == body["request_uid"]
    (headers,) = queued_headers(celery)
    _version, trace_hex, span_hex, _ = headers["traceparent"].split("-")
    assert (int(trace_hex, 16), int(span_hex, 16)) == (send.context.trace_id, send.context.span_id)
    assert redis_client.get(f"trace:order:{body['request_uid']}").decode() == headers["traceparent"]


def test_a_resend_by_the_sweep_joins_the_orders_trace_and_links_the_sweep(tasks, spans, celery, redis_client):
    from opentelemetry import trace

    tracer = trace.get_tracer("test", tracer_provider=tracing._provider)
    with tracer.start_as_current_span("request") as request_span:
        assert tasks.send(Move.ORDER, "uid-1")
    with tracer.start_as_current_span("sweep", kind=trace.SpanKind.CONSUMER) as sweep_span:
        assert tasks.send(Move.ORDER, "uid-1", again=True)
        assert tasks.send(Move.ORDER, "uid-never-sent", again=True)
    first, again, unknown = queued_headers(celery)
    sends = [s for s in spans.get_finished_spans() if s.kind.name == "PRODUCER"]
    assert len(sends) == 3
    order_trace = request_span.get_span_context().trace_id
    assert sends[1].context.trace_id == order_trace
    assert sends[1].parent.span_id == sends[0].context.span_id  # under the order's first send
    assert [link.context.span_id for link in sends[1].links] == [sweep_span.get_span_context().span_id]
    assert again["traceparent"].split("-")[1] == f"{order_trace:032x}"
    assert sends[2].context.trace_id == sweep_span.get_span_context().trace_id  # nothing stored: the sweep's
    assert first["traceparent"] != again["traceparent"] != unknown["traceparent"]


def test_a_trace_store_in_trouble_does_not_stop_a_send(celery, spans):
    class Down:
        def get(self, key):
            raise ConnectionError("down")

        def set(self, *args, **kwargs):
            raise ConnectionError("down")

    tasks = CeleryTasks(celery, traces=tracing.order_traces(Down()))
    assert tasks.send(Move.ORDER, "uid-2") and tasks.send(Move.ORDER, "uid-2", again=True)
    assert len(queued_headers(celery)) == 2


def test_root_client_calls_start_no_trace(spans, redis_client):
    redis_client.set("housekeeping", "1")  # as kombu's polling would, outside any request or task
    assert spans.get_finished_spans() == ()


def test_probes_and_scrapes_start_no_trace(client, spans):
    for path in ("/healthz", "/readyz", "/metrics", "/posnext/orders/no-such-order"):
        client.get(path)
    assert [s.name for s in spans.get_finished_spans() if s.kind.name == "SERVER"] == [
        "GET /posnext/orders/<path:request_uid>"
    ]  # the last one, PAR's poll, is traced


def test_a_log_line_inside_a_trace_carries_its_trace_id(spans):
    import json
    import logging

    from opentelemetry import trace

    from app.logs import JsonFormatter

    formatter = JsonFormatter(secrets=[])
    record = logging.makeLogRecord({"msg": "outside"})
    assert "trace_id" not in json.loads(formatter.format(record))
    with trace.get_tracer("test", tracer_provider=tracing._provider).start_as_current_span("request") as span:
        line = json.loads(formatter.format(logging.makeLogRecord({"msg": "inside"})))
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"


def test_a_send_outside_any_trace_joins_the_orders_trace(tasks, spans, celery):
    from opentelemetry import trace

    with trace.get_tracer("test", tracer_provider=tracing._provider).start_as_current_span("request") as request_span:
        assert tasks.send(Move.ORDER, "uid-3")
    assert tasks.send(Move.ORDER, "uid-3")  # as the CLI's redrive: no span of its own around it
    assert tasks.send(Move.ORDER, "uid-unknown")
    first, redrive, unknown = [s for s in spans.get_finished_spans() if s.kind.name == "PRODUCER"]
    assert redrive.context.trace_id == request_span.get_span_context().trace_id and not redrive.links
    assert redrive.parent.span_id == first.context.span_id
    assert unknown.parent is None and unknown.context.trace_id != first.context.trace_id
    assert len(queued_headers(celery)) == 3
