"""Traces across real processes (issue 20, deliverable 4): gunicorn, a Celery worker (gevent
pool) and beat write their spans to one file (POSBRIDGE_TRACES_FILE) and export them over
OTLP/HTTP to a collector stand-in; an order handed off by the web is one trace from PAR's
request to the worker's POS call, also when its task was lost and beat's sweep sent it again."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.support.factories import sample_order
from tests.support.live import at_once, post_signed, start_live, wait_until

SLOW_POS = {"latency_ms": 1500}  # past the 800 ms inline budget: the web hands the order off


class Collector(BaseHTTPRequestHandler):
    """OTLP/HTTP's trace endpoint: keeps each request's (path, protobuf body), answers 200."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self):  # http.server's naming
        Collector.received.append((self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory, collector):
    where = tmp_path_factory.mktemp("traces")
    stack = start_live(
        str(where),
        workers=0,
        POSBRIDGE_TRACES_FILE=str(where / "spans.jsonl"),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    stack.traces_file = str(where / "spans.jsonl")
    yield stack
    stack.stop()


def exported(service: str = "posbridge") -> list[tuple[str, str]]:
    """(trace id hex, span name) of every span the collector received."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    found = []
    for path, body in list(Collector.received):
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert attributes["service.name"] == service
            found += [(span.trace_id.hex(), span.name) for scope in resource_spans.scope_spans for span in scope.spans]
    return found


def spans(live) -> list[dict]:
    if not os.path.exists(live.traces_file):
        return []
    with open(live.traces_file, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def running_workers(live) -> list[str]:
    return [
        label
        for label, process in live.stack.processes.items()
        if label.startswith("worker") and process.poll() is None
    ]


def with_a_worker(live) -> None:
    if not running_workers(live):
        name = str(len(live.stack.processes))
        live.stack.start("worker", label=f"worker{name}", WORKER_NAME=name)
    live.wait_for_workers(1)


def descends(span: dict, ancestor: dict, by_id: dict) -> bool:
    while span.get("parent_id"):
        if span["parent_id"] == ancestor["context"]["span_id"]:
            return True
        span = by_id.get(span["parent_id"], {})
    return False


def handed_off(live, order: dict) -> None:
    live.knobs(**SLOW_POS)
    try:
        response = live.submit(order)
    finally:
        live.reset_pos()
    assert response.status_code == 202, response.text


def order_trace(live, uid: str, resent: bool = False) -> tuple[str, list[dict]]:
    """The trace of the web's submit of `uid` once the worker's run of place_order is in it."""

    def found():
        every = spans(live)
        server = [
            s for s in every if s["kind"] == "SpanKind.SERVER" and s["attributes"].get("posbridge.request_uid") == uid
        ]
        if not server:
            return None
        trace_id = server[0]["context"]["trace_id"]
        mine = [s for s in every if s["context"]["trace_id"] == trace_id]
        runs = [s for s in mine if s["name"] == "run/workers.orders.place_order"]
        resends = [s for s in mine if s["attributes"].get("posbridge.resend")]
        return (trace_id, mine) if runs and (resends or not resent) else None

    return wait_until(found, timeout=40, message=f"the worker's span in {uid}'s trace")


def test_a_handed_off_order_is_one_trace_from_the_request_to_the_workers_pos_call(live):
    with_a_worker(live)
    order = sample_order()
    handed_off(live, order)
    live.wait_final(order["request_uid"])
    _trace_id, mine = order_trace(live, order["request_uid"])

    by_id = {s["context"]["span_id"]: s for s in mine}
    (server,) = [s for s in mine if s["kind"] == "SpanKind.SERVER"]
    (send,) = [s for s in mine if s["name"] == "send workers.orders.place_order"]
    run = next(s for s in mine if s["name"] == "run/workers.orders.place_order")
    assert descends(send, server, by_id) and run["parent_id"] == send["context"]["span_id"]
    worker_pos = [
        s for s in mine if s["kind"] == "SpanKind.CLIENT" and s["name"] in ("POST", "GET") and descends(s, run, by_id)
    ]
    web_pos = [
        s
        for s in mine
        if s["kind"] == "SpanKind.CLIENT"
        and s["name"] == "POST"
        and descends(s, server, by_id)
        and not descends(s, run, by_id)
    ]
    assert worker_pos and web_pos, [s["name"] for s in mine]
    assert any(s["attributes"].get("db.system") == "redis" and descends(s, run, by_id) for s in mine)


def test_a_lost_task_sent_again_by_the_sweep_joins_the_orders_trace(live):
    for label in running_workers(live):
        live.stack.stop(label)
    order = sample_order()
    uid = order["request_uid"]
    handed_off(live, order)
    assert live.redis.delete("orders") == 1  # the task is lost (as with its worker)
    with_a_worker(live)
    live.wait_final(uid)
    trace_id, mine = order_trace(live, uid, resent=True)

    by_id = {s["context"]["span_id"]: s for s in mine}
    (resend,) = [s for s in mine if s["attributes"].get("posbridge.resend")]
    (first,) = [
        s
        for s in mine
        if s["name"] == "send workers.orders.place_order" and not s["attributes"].get("posbridge.resend")
    ]
    assert resend["parent_id"] == first["context"]["span_id"]
    (link,) = resend["links"]
    sweep = [s for s in spans(live) if s["context"]["span_id"] == link["context"]["span_id"]]
    assert sweep and sweep[0]["name"] == "run/workers.sweep.sweep_orders"
    assert sweep[0]["context"]["trace_id"] != trace_id
    run = next(s for s in mine if s["name"] == "run/workers.orders.place_order")
    assert descends(run, resend, by_id)


def test_the_otlp_exporter_delivers_the_same_trace_from_gevent_web_and_worker(live):
    with_a_worker(live)
    order = sample_order()
    handed_off(live, order)
    live.wait_final(order["request_uid"])
    trace_id, _ = order_trace(live, order["request_uid"])
    wanted = {"POST /posnext/order/submit", "run/workers.orders.place_order", "send workers.orders.place_order"}

    def delivered():
        names = {name for tid, name in exported() if f"0x{tid}" == trace_id}
        return wanted <= names

    wait_until(delivered, timeout=20, message="the order's spans at the collector")


def test_concurrent_orders_keep_their_traces_apart_in_gevent_web_and_worker(live):
    """Each greenlet has its own context: orders handled at once, in one web process and one
    worker, never share a trace nor lend each other spans."""
    with_a_worker(live)
    orders = [sample_order() for _ in range(6)]
    live.knobs(**SLOW_POS)
    try:
        answers = at_once(
            [lambda o=o: post_signed(live.base_url, "/posnext/order/submit", o, live.token) for o in orders]
        )
    finally:
        live.reset_pos()
    assert [getattr(a, "status_code", a) for a in answers] == [202] * len(orders)
    traces = {}
    for order in orders:
        live.wait_final(order["request_uid"])
        trace_id, mine = order_trace(live, order["request_uid"])
        traces[trace_id] = order["request_uid"]
        assert [s["kind"] for s in mine].count("SpanKind.SERVER") == 1
        uids = {s["attributes"]["posbridge.request_uid"] for s in mine if "posbridge.request_uid" in s["attributes"]}
        assert uids == {order["request_uid"]}
        by_id = {s["context"]["span_id"]: s for s in mine}
        assert all(s["parent_id"] is None or s["parent_id"] in by_id for s in mine)  # every parent exported
    assert len(traces) == len(orders)
