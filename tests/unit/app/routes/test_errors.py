"""The error model through the Flask test client: every row of the Errors table, in the fixed order."""

from __future__ import annotations

import pytest

from app import jsonio, signing
from tests.conftest import SHARED_ID
from tests.support.factories import sample_order, token
from tests.support.helpers import broken_redis, build_app, keys, send

SUBMIT, VALIDATE = "/posnext/order/submit", "/posnext/order/validate"
KEY = signing.key_from_shared_id(SHARED_ID)


@pytest.fixture
def good(token):
    """A valid JWT for the unit layer's secret."""
    return token


def assert_envelope(response, status, code):
    """The JSON envelope of an error: status errored, errors [{code, message, field?}], never HTML, and
    never signed: an error vouches for nothing (posnext-api.md, "Authentication and signing")."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = jsonio.loads(response.data)
    assert body["status"] == "errored"
    assert body["errors"] and all(set(e) <= {"code", "message", "field"} and e["message"] for e in body["errors"])
    assert code in [e["code"] for e in body["errors"]]
    assert b"<html" not in response.data.lower() and b"Traceback" not in response.data
    assert "x-pch-digest" not in response.headers
    return body


def test_body_not_json_is_400(client, good):
    r = send(client, SUBMIT, b"{not json", token=good, digest="0" * 64)
    assert_envelope(r, 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"", b'{"a": NaN}'])
def test_a_body_that_is_not_an_object_is_400(client, good, raw):
    assert_envelope(send(client, SUBMIT, raw, token=good), 400, "invalid_json")


def test_schema_broken_is_400_with_the_fields_and_the_ids_it_could_read(client, good):
    order = sample_order(uid="ord-s1")
    del order["order_details"]["items"][0]["quantity"]
    body = assert_envelope(send(client, SUBMIT, order, token=good), 400, "schema_invalid")
    assert {"field": "order_details.items.0.quantity"}.items() <= body["errors"][0].items()
    assert (body["request_uid"], body["location_id"]) == ("ord-s1", "loc-001")


@pytest.mark.parametrize(("path", "request_type"), [(SUBMIT, "validate-order"), (VALIDATE, "place-order")])
def test_wrong_request_type_is_400(client, good, path, request_type):
    body = assert_envelope(
        send(client, path, sample_order(request_type=request_type), token=good), 400, "request_type_mismatch"
    )
    assert body["errors"][0]["field"] == "request_type"


@pytest.mark.parametrize("path", [SUBMIT, VALIDATE, "/posnext/orders/x", "/posnext/menus?location_id=loc-001"])
def test_no_jwt_is_401(client, path):
    r = client.get(path) if "?" in path or "/x" in path else send(client, path, sample_order())
    assert_envelope(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_digest_is_401(client, good):
    assert_envelope(send(client, SUBMIT, sample_order(), token=good, digest="0" * 64), 401, "signature_invalid")


def test_unknown_order_id_is_404(client, good):
    r = client.get("/posnext/orders/never-seen", headers={"Authorization": f"Bearer {good}"})
    body = assert_envelope(r, 404, "order_unknown")
    assert body["request_uid"] == "never-seen"


def test_same_uid_different_payload_is_409(client, good):
    assert send(client, SUBMIT, sample_order(uid="ord-c"), token=good).status_code == 200
    body = assert_envelope(
        send(client, SUBMIT, sample_order(uid="ord-c", quantity=5), token=good), 409, "idempotency_conflict"
    )
    assert body["request_uid"] == "ord-c"


@pytest.fixture
def small_app():
    return build_app(MAX_CONTENT_LENGTH="2048")


def big_order():
    order = sample_order(uid="ord-big")
    order["order_details"]["items"][0]["note"] = "x" * 500
    order["order_details"]["padding"] = "y" * 3000
    return order


def test_a_body_over_the_limit_is_413(small_app, good):
    assert_envelope(send(small_app.test_client(), SUBMIT, big_order(), token=good), 413, "payload_too_large")


def test_not_application_json_is_415(client, good):
    order = sample_order()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        assert_envelope(
            send(client, SUBMIT, order, token=good, content_type=content_type), 415, "unsupported_media_type"
        )


def test_json_with_a_charset_is_fine(client, good):
    r = send(client, SUBMIT, sample_order(), token=good, content_type="application/json; charset=utf-8")
    assert r.status_code == 200 and r.body["status"] == "placed"


def test_405_is_json_with_allow(client):
    r = client.get(SUBMIT)
    assert_envelope(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]


def test_an_unknown_path_is_json(client):
    assert_envelope(client.get("/nothing/here"), 404, "not_found")


def test_an_unexpected_failure_is_a_json_500_without_a_trace(app, client, good, monkeypatch):
    def boom(request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["posbridge"].service, "validate", boom)
    r = send(client, VALIDATE, sample_order(request_type="validate-order"), token=good)
    body = assert_envelope(r, 500, "internal_error")
    assert "secret internals" not in r.get_data(as_text=True) and body["errors"][0]["message"]


# -- Redis unreachable ----------------------------------------------------------------------


@pytest.fixture
def down(pos, tasks):
    return build_app(redis_client=broken_redis(), pos=pos, tasks=tasks)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", SUBMIT),
        ("post", VALIDATE),
        ("get", "/posnext/orders/ord-1"),
        ("get", "/posnext/menus?location_id=loc-001"),
        ("get", "/posnext/orders?location_id=loc-001"),
    ],
)
def test_redis_unreachable_is_503_with_retry_after_and_nothing_done(down, good, pos, tasks, method, path):
    client = down.test_client()
    if method == "post":
        kind = "place-order" if path == SUBMIT else "validate-order"
        r = send(client, path, sample_order(uid="ord-1", request_type=kind), token=good)
    else:
        r = client.get(path, headers={"Authorization": f"Bearer {good}"})
    assert_envelope(r, 503, "service_unavailable")
    assert int(r.headers["Retry-After"]) > 0
    assert pos.count("place") == 0 and tasks.sent == []


# -- the order of the checks: JWT, size, content type, JSON and schema, digest, idempotency, rules ----------


def test_bad_jwt_and_bad_json_is_401(client):
    assert_envelope(send(client, SUBMIT, b"{nope", token="not.a.jwt"), 401, "unauthorized")


def test_bad_jwt_and_too_big_is_401(small_app):
    assert_envelope(send(small_app.test_client(), SUBMIT, big_order(), token=None), 401, "unauthorized")


def test_too_big_and_wrong_content_type_is_413(small_app, good):
    r = send(small_app.test_client(), SUBMIT, big_order(), token=good, content_type="text/plain")
    assert_envelope(r, 413, "payload_too_large")


def test_wrong_content_type_and_bad_json_is_415(client, good):
    assert_envelope(
        send(client, SUBMIT, b"{nope", token=good, content_type="text/plain"), 415, "unsupported_media_type"
    )


def test_bad_json_and_bad_digest_is_400(client, good):
    assert_envelope(send(client, SUBMIT, b"{nope", token=good, digest="0" * 64), 400, "invalid_json")


def test_schema_broken_and_bad_digest_is_400(client, good):
    order = sample_order(request_type="nonsense")
    assert_envelope(send(client, SUBMIT, order, token=good, digest="0" * 64), 400, "schema_invalid")


def test_bad_digest_and_conflicting_payload_is_401(client, good):
    send(client, SUBMIT, sample_order(uid="ord-d"), token=good)
    r = send(client, SUBMIT, sample_order(uid="ord-d", quantity=4), token=good, digest="0" * 64)
    assert_envelope(r, 401, "signature_invalid")


def test_conflicting_payload_that_also_breaks_rules_is_409(client, good):
    send(client, SUBMIT, sample_order(uid="ord-e"), token=good)
    r = send(client, SUBMIT, sample_order(uid="ord-e", location_id="loc-003"), token=good)
    assert_envelope(r, 409, "idempotency_conflict")


# -- a refused request changes nothing ------------------------------------------------------------

REFUSALS = {
    "no jwt": {"token": None},
    "bad digest": {"digest": "f" * 64},
    "no digest": {"digest": False},
    "not json": {"body": b"{nope"},
    "wrong type": {"content_type": "text/plain"},
    "schema": {"body": sample_order(uid="ord-r", ttl=-1)},
    "request_type": {"body": sample_order(uid="ord-r", request_type="validate-order")},
    "conflict": {"body": sample_order(uid="ord-seen", quantity=9)},
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_request_changes_nothing(client, services, good, pos, tasks, case):
    send(client, SUBMIT, sample_order(uid="ord-seen"), token=good)
    before, calls, sent = keys(services.redis), list(pos.calls), list(tasks.sent)
    args = {"body": sample_order(uid="ord-r"), "token": good, **REFUSALS[case]}
    r = send(client, SUBMIT, **args)
    assert 400 <= r.status_code < 500
    assert keys(services.redis) == before
    assert (pos.calls, tasks.sent) == (calls, sent)


def test_an_expired_token_is_401_token_expired(client):
    from tests.conftest import JWT_SECRET

    r = send(client, SUBMIT, sample_order(), token=token(JWT_SECRET, seconds=-120))
    assert_envelope(r, 401, "token_expired")


def test_metrics_carry_the_sweep_gauge_the_reconcile_list_and_the_schedule(client, services):
    services.redis.set("sweep:last_success", "1795456800.5")
    text = client.get("/metrics").get_data(as_text=True)
    assert "posbridge_sweep_last_success_timestamp_seconds 1.7954568005e+09" in text
    assert 'posbridge_reconcile_orders{state="open"} 0.0' in text
    assert "posbridge_schedule_overdue_seconds" in text and "posbridge_unreadable_records_total" in text


def test_a_long_url_and_many_headers_are_the_apps_json(client, good):
    """Issue 11, finding 8."""
    long_url = client.get("/posnext/orders/" + "a" * 5000, headers={"Authorization": f"Bearer {good}"})
    assert_envelope(long_url, 414, "uri_too_long")
    many = {f"X-H{i}": "v" for i in range(150)}
    assert_envelope(client.get("/healthz", headers=many), 431, "header_fields_too_large")


def test_a_head_over_32_kib_in_all_is_the_apps_431(client):
    """Issue 23, finding 2: before: 100 headers of 8,190 bytes each (800 KB) were within the app's limits."""
    assert client.get("/healthz", headers={f"X-Pad-{i}": "a" * 1000 for i in range(30)}).status_code == 200
    big = {f"X-Pad-{i}": "a" * 1000 for i in range(34)}
    assert_envelope(client.get("/healthz", headers=big), 431, "header_fields_too_large")


class _Body:
    """wsgi.input as gunicorn's, carrying force_close (app/server_request.py)."""

    def __init__(self, data: bytes):
        import io

        self.stream, self.closed_connection = io.BytesIO(data), False

    def read(self, size=-1):
        return self.stream.read(size)

    def readline(self, size=-1):
        return self.stream.readline(size)

    def close_connection(self):
        self.closed_connection = True


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("POST", VALIDATE, False, 401),
        ("POST", "/nowhere", False, 404),
        ("PUT", "/healthz", False, 405),
        ("POST", "/posnext/menus", True, 415),
    ],
)
def test_an_answer_without_reading_the_body_closes_the_connection(client, good, method, path, auth, status):
    """Issue 23, finding 1:
    before: the answer kept the connection, so gunicorn read and discarded the rest of the body."""
    body = _Body(b"x" * 5000)
    headers = {"Authorization": f"Bearer {good}"} if auth else {}
    r = client.open(
        path,
        method=method,
        headers={**headers, "Content-Type": "text/plain"},
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": "5000"},
    )
    assert r.status_code == status
    assert r.headers.get("Connection") == "close"
    assert body.closed_connection


def test_an_answer_after_reading_the_whole_body_keeps_the_connection(client, good):
    data = jsonio.dumps({"location_id": "loc-001"}).encode()
    body = _Body(data)
    r = client.post(
        "/posnext/menus",
        headers={"Authorization": f"Bearer {good}", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(len(data))},
    )
    assert r.status_code in (200, 404, 503)
    assert "Connection" not in r.headers and not body.closed_connection
