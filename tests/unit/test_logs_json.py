"""app/logs.py: one JSON object per line, the request_uid on each, no secret in any."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app import logs
from app.logs import JsonFormatter, bind_request_uid, process_kind, secret_values, task_uid

SECRETS_ENV = {
    "PAR_JWT_SECRET": "jwt-secret-value-123",
    "PAR_SHARED_ID": "SharedKey9-rest-of-it",
    "POS_API_TOKEN": "pos-token-value-456",
    "FLOWER_BASIC_AUTH": "oncall:flower-pass-789",
}


@pytest.fixture
def capture():
    """A logger writing through JsonFormatter into a buffer; yields (logger, lines())."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("worker", secrets=secret_values(SECRETS_ENV)))
    logger = logging.getLogger("tests.logs_json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    bind_request_uid(None)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    bind_request_uid(None)
    logger.handlers[:] = []


def test_each_line_is_one_json_object_with_the_fixed_fields(capture):
    logger, lines = capture
    logger.info("first %s", "line", extra={"location_id": "loc-001"})
    logger.warning("second\nwith a newline")
    first, second = lines()
    assert {k: first[k] for k in ("level", "logger", "process", "msg", "location_id")} == {
        "level": "info",
        "logger": "tests.logs_json",
        "process": "worker",
        "msg": "first line",
        "location_id": "loc-001",
    }
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["msg"] == "second\nwith a newline" and second["level"] == "warning"


def test_request_uid_comes_from_extra_then_the_bound_one(capture):
    logger, lines = capture
    logger.info("unbound")
    bind_request_uid("ord-bound")
    logger.info("bound")
    logger.info("explicit", extra={"request_uid": "ord-explicit"})
    unbound, bound, explicit = lines()
    assert "request_uid" not in unbound
    assert bound["request_uid"] == "ord-bound" and explicit["request_uid"] == "ord-explicit"


def test_celery_lines_of_order_and_callback_tasks_carry_the_task_argument(capture):
    logger, lines = capture
    for name, args in (
        ("workers.orders.place_order", "['ord-1']"),
        ("workers.callbacks.deliver_callback", "('ord-2',)"),
        ("workers.sweep.sweep_orders", "()"),
        ("workers.orders.place_order", "not python"),
    ):
        logger.info("Task received", extra={"data": {"id": "t", "name": name, "args": args}})
    received = [line.get("request_uid") for line in lines()]
    assert received == ["ord-1", "ord-2", None, None]
    assert task_uid({"name": "workers.orders.place_order", "args": "[{'payload': 1}]"}) is None


def test_a_task_is_bound_to_its_uid_before_it_runs_and_others_are_not(capture):
    logger, lines = capture

    class Task:
        def __init__(self, name):
            self.name = name

    logs._bind_task(sender=Task("workers.orders.place_order"), args=["ord-9"])
    logger.info("in an order task")
    logs._bind_task(sender=Task("workers.sweep.sweep_orders"), args=[])
    logger.info("in the sweep")
    order_line, sweep_line = lines()
    assert order_line["request_uid"] == "ord-9" and "request_uid" not in sweep_line


def test_no_secret_value_reaches_a_line(capture):
    logger, lines = capture
    logger.info(
        "connecting with %s and %s",
        SECRETS_ENV["POS_API_TOKEN"],
        SECRETS_ENV["PAR_JWT_SECRET"],
        extra={
            "detail": f"key {SECRETS_ENV['PAR_SHARED_ID'][:10]} pw flower-pass-789",
            "api_token": "anything",
            "Authorization": "Bearer abc",
        },
    )
    try:
        raise ValueError(f"bad {SECRETS_ENV['PAR_SHARED_ID']}")
    except ValueError:
        logger.exception("failed")
    raw = json.dumps(lines())
    for value in (*SECRETS_ENV.values(), "SharedKey9", "flower-pass-789", "Bearer abc"):
        assert value not in raw, value
    first = lines()[0]
    assert first["api_token"] == "[redacted]" and first["Authorization"] == "[redacted]"
    assert "[redacted]" in first["msg"] and lines()[1]["exc_type"] == "ValueError"


def test_secret_values_read_files_and_skip_short_ones(tmp_path):
    secret_file = tmp_path / "jwt"
    secret_file.write_text("from-a-file-secret\n")
    found = secret_values({"PAR_JWT_SECRET_FILE": str(secret_file), "POS_API_TOKEN": "abc"})
    assert found == ["from-a-file-secret"]


def test_process_kind_names_the_process():
    assert process_kind("worker", ["celery", "-A", "workers", "worker"]) == "worker"
    assert process_kind("worker", ["celery", "-A", "workers", "beat", "--quiet"]) == "beat"
    assert process_kind("worker", ["celery", "-A", "workers", "flower"]) == "flower"
    assert process_kind("web", ["/venv/bin/gunicorn", "app.wsgi:application"]) == "web"
    assert process_kind("web", ["/venv/bin/flask", "--app", "app.wsgi", "orders"]) == "cli"


def test_each_request_starts_with_no_request_uid(client):
    bind_request_uid("ord-from-the-previous-request")
    assert client.get("/healthz").status_code == 200
    assert logs._request_uid.get() is None


def test_gunicorn_logs_through_the_same_formatter(monkeypatch, tmp_path):
    import runpy

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # so the config makes no directory
    config = runpy.run_path("gunicorn.conf.py")
    formatter = config["logconfig_dict"]["formatters"]["json"]
    assert formatter["()"] == "app.logs.JsonFormatter" and formatter["process_kind"] == "web"
    assert config["logconfig_dict"]["loggers"]["gunicorn.error"]["propagate"] is True


def test_each_order_answer_is_one_line_with_its_request_uid(post, order):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("web", secrets=[]))
    requests_log = logging.getLogger("app.requests")
    requests_log.addHandler(handler)
    requests_log.setLevel(logging.INFO)
    try:
        body = order(request_type="validate-order")
        assert post("/posnext/order/validate", body).status_code == 200
        assert post("/posnext/order/submit", body).status_code == 400  # wrong request_type
    finally:
        requests_log.removeHandler(handler)
    validated, refused = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert validated["request_uid"] == body["request_uid"] == refused["request_uid"]
    assert (validated["endpoint"], validated["code"], validated["status"]) == ("orders.validate", 200, "validated")
    assert (refused["endpoint"], refused["code"], refused["status"]) == ("orders.submit", 400, "errored")
    assert validated["ms"] >= 0


def test_the_time_of_each_line_is_its_own_across_seconds():
    """The formatter keeps the last second's text; a line of another second gets its own."""
    formatter = JsonFormatter("web", secrets=[])
    times = [(1_795_456_800.9995, 999), (1_795_456_800.0015, 1), (1_795_456_801.5, 500), (1_795_456_799.25, 250)]
    stamps = []
    for created, msecs in times:
        record = logging.makeLogRecord({"msg": "x", "created": created, "msecs": msecs})
        stamps.append(json.loads(formatter.format(record))["ts"])
    assert stamps == [
        "2026-11-23T18:00:00.999Z",
        "2026-11-23T18:00:00.001Z",
        "2026-11-23T18:00:01.500Z",
        "2026-11-23T17:59:59.250Z",
    ]


def test_a_secret_field_is_redacted_every_time():
    formatter = JsonFormatter("web", secrets=[])
    for _ in range(2):
        line = json.loads(formatter.format(logging.makeLogRecord({"msg": "x", "api_token": "abc", "uid": "u"})))
        assert (line["api_token"], line["uid"]) == ("[redacted]", "u")
