"""The REST POS client against a local HTTP server: every answer of pos-api.md mapped to an outcome."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from app.pos.base import (
    Expired,
    InProgress,
    KeyUsed,
    LocationUnknown,
    Placed,
    PosUnavailable,
    Refused,
    Transient,
    VoidedKey,
)
from app.pos.rest import RestPos, normalise_menu
from app.pos.wire import body_fields
from tests.conftest import JWT_SECRET
from tests.support.factories import sample_order, token
from tests.support.helpers import build_app, free_port, send
from tests.support.pos import CREATED, NOT_AFTER, ORDER, SLOW, place, record
from tests.support.pos import SIM_TOKEN as TOKEN


def body(uid="ord-1"):
    return body_fields(record(uid), NOT_AFTER)


PLACE_ANSWERS = [
    (201, ORDER, Placed("P-000042", 2687, replayed=False, created_at=CREATED)),
    (200, ORDER, Placed("P-000042", 2687, replayed=True, created_at=CREATED)),
    (201, {**ORDER, "created_at": "yesterday"}, Placed("P-000042", 2687, created_at=None)),
    (200, {**ORDER, "status": "voided"}, VoidedKey()),
    (409, {"error": {"code": "in_progress"}}, InProgress()),
    (422, {"error": {"code": "item_unavailable", "message": "86'd"}}, Refused("item_unavailable", "86'd")),
    (422, {"error": {"code": "location_closed", "message": "closed"}}, Refused("location_closed", "closed")),
    (422, {"error": {"code": "location_unknown", "message": "who?"}}, Refused("location_unknown", "who?")),
    (422, {"error": {"code": "idempotency_key_reused", "message": "other body"}}, KeyUsed()),
    (422, {"error": {"code": "voided", "message": "voided"}}, VoidedKey()),
    (422, b"not json", Refused("pos_refused", "the POS refused")),
    (422, {"error": {"code": "expired", "message": "too late"}}, Expired()),
    (429, {"error": {"code": "slow_down"}}, Transient("HTTP 429")),
    (500, {"error": {"code": "boom"}}, Transient("HTTP 500")),
    (502, b"<html>bad gateway</html>", Transient("HTTP 502")),
    (503, {"error": {"code": "pos_down"}}, Transient("HTTP 503")),
    (504, b"", Transient("HTTP 504")),
    (201, {"status": "accepted"}, Transient("unexpected HTTP 201", ambiguous=True)),
    (404, {"error": {"code": "not_found"}}, Transient("unexpected HTTP 404", ambiguous=False)),
]


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    PLACE_ANSWERS,
    ids=[f"{s}-{type(o).__name__}-{i}" for i, (s, _, o) in enumerate(PLACE_ANSWERS)],
)
def test_each_post_orders_answer_maps_to_an_outcome(rest, script, server, status, answer, outcome):
    script.answers[("POST", "/orders")] = (status, answer)
    assert place(rest) == outcome
    [seen] = server.seen
    assert seen["headers"]["Idempotency-Key"] == "ord-1"
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(seen["body"]) == json.loads(json.dumps(body()))


def test_a_reset_is_transient(rest, script):
    script.answers[("POST", "/orders")] = (None, b"")
    outcome = place(rest)
    assert isinstance(outcome, Transient) and outcome.reason.startswith("connection:") and outcome.ambiguous


def test_a_read_timeout_is_transient(impatient, script, observed):
    script.answers[("POST", "/orders")] = (201, ORDER, SLOW)
    assert place(impatient) == Transient("timeout")
    assert observed[-1][:2] == ("place", "timeout")


def test_connection_refused_is_transient():
    rest = RestPos(f"http://127.0.0.1:{free_port()}", TOKEN, connect_timeout=1.0, read_timeout=1.0)
    outcome = place(rest)
    assert isinstance(outcome, Transient) and outcome.reason.startswith("connection:")
    assert not outcome.ambiguous  # refused: nothing reached the POS
    with pytest.raises(PosUnavailable):
        rest.find_order("ord-1")
    with pytest.raises(PosUnavailable):
        rest.get_menu("loc-001")


def test_money_left_as_decimal_in_unknown_fields_is_sent_as_a_json_number(rest, script, server):
    order = record()
    order["order_details"]["fulfillment"] = {"mode": "delivery", "distance_km": Decimal("3.5")}
    script.answers[("POST", "/orders")] = (201, ORDER)
    assert place(rest, order) == Placed("P-000042", 2687, created_at=CREATED)
    assert json.loads(server.seen[0]["body"])["fulfillment"] == {"mode": "delivery", "distance_km": 3.5}
    assert server.seen[0]["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (200, [], None),
        (200, [ORDER], Placed("P-000042", 2687, replayed=True, created_at=CREATED)),
        (
            200,
            [{**ORDER, "status": "voided"}],
            Placed("P-000042", 2687, replayed=True, created_at=CREATED, voided=True),
        ),
        (200, [{"status": "accepted"}], None),
    ],
)
def test_lookup_by_external_id(rest, script, server, status, answer, expected):
    script.answers[("GET", "/orders")] = (status, answer)
    assert rest.find_order("ord/1 é") == expected
    assert server.seen[0]["path"] == "/orders?external_id=ord%2F1+%C3%A9"


@pytest.mark.parametrize(
    ("status", "answer", "delay"),
    [
        (500, {"error": {}}, 0),
        (503, {"error": {}}, 0),
        (200, {"not": "a list"}, 0),
        (200, b"not json", 0),
        (401, {"error": {"code": "unauthorized"}}, 0),
        (200, [], SLOW),
        (None, b"", 0),
    ],
    ids=["500", "503", "object", "not json", "401", "timeout", "reset"],
)
def test_a_lookup_that_cannot_answer_is_pos_unavailable(impatient, script, status, answer, delay):
    script.answers[("GET", "/orders")] = (status, answer, delay)
    with pytest.raises(PosUnavailable):
        impatient.find_order("ord-1")


LOCATION = {
    "location_id": "loc-001",
    "name": "Main St",
    "accepting_orders": True,
    "timezone": "America/New_York",
    "tax_rate": "0.0825",
    "currency": "USD",
}
MENU = {"location_id": "loc-001", "updated_at": "2026-11-23T10:00:00Z", "items": []}


def test_location_and_menu(rest, script):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION)
    script.answers[("GET", "/locations/loc-001/menu")] = (200, MENU)
    assert rest.get_menu("loc-001") == normalise_menu(LOCATION, MENU)
    assert rest.get_menu("loc-001")["location"]["tax_rate"] == "0.0825"


def test_a_location_id_is_quoted_into_the_path(rest, script, server):
    script.answers[("GET", "/locations/a%2Fb%20c")] = (200, LOCATION)
    script.answers[("GET", "/locations/a%2Fb%20c/menu")] = (200, MENU)
    assert rest.get_menu("a/b c")["location"] == LOCATION


@pytest.mark.parametrize("location_id", [".", ".."])
def test_a_dot_location_id_names_no_other_path(rest, server, location_id):
    with pytest.raises(LocationUnknown):
        rest.get_menu(location_id)
    assert server.seen == []


def test_an_unknown_location_is_location_unknown(rest):
    with pytest.raises(LocationUnknown):
        rest.get_menu("loc-999")


@pytest.mark.parametrize(
    ("status", "answer", "delay"),
    [
        (503, {"error": {}}, 0),
        (500, {}, 0),
        (200, b"<html>", 0),
        (200, LOCATION, SLOW),
        (None, b"", 0),
    ],
    ids=["503", "500", "not json", "timeout", "reset"],
)
def test_a_read_that_fails_is_pos_unavailable(impatient, script, status, answer, delay):
    script.answers[("GET", "/locations/loc-001")] = (status, answer, delay)
    script.answers[("GET", "/locations/loc-001/menu")] = (status, answer, delay)
    with pytest.raises(PosUnavailable):
        impatient.get_menu("loc-001")


def test_every_call_is_bounded_as_a_whole_by_the_time_it_is_given(rest, script, monkeypatch):
    script.answers.update(
        {
            ("GET", "/locations/loc-001"): (200, LOCATION),
            ("GET", "/locations/loc-001/menu"): (200, MENU),
            ("GET", "/orders"): (200, []),
            ("POST", "/orders"): (201, ORDER),
        }
    )
    timeouts = []
    real = rest.session.request

    def spy(method, url, **kwargs):
        bound = kwargs.get("timeout")
        timeouts.append((method, bound.total, bound.connect_timeout, bound._read))
        return real(method, url, **kwargs)

    monkeypatch.setattr(rest.session, "request", spy)
    rest.get_menu("loc-001")
    rest.find_order("ord-1")
    place(rest, timeout=5.0)
    place(rest, timeout=0.2)
    place(rest, timeout=99)
    place(rest, timeout=0.0)
    assert timeouts[2:] == [
        ("GET", 6.0, 1.0, 5.0),
        ("POST", 5.0, 1.0, 5.0),
        ("POST", 0.2, 0.2, 0.2),
        ("POST", 6.0, 1.0, 5.0),
        ("POST", 0.05, 0.05, 0.05),
    ]
    assert [t[0] for t in timeouts[:2]] == ["GET", "GET"] and all(t[1] <= 12.0 for t in timeouts[:2])


def test_a_pos_that_trickles_its_answer_is_cut_at_the_time_given(server, script):
    """requests' read timeout is per read: the whole call is bounded by urllib3's total."""
    script.answers[("POST", "/orders")] = (201, ORDER, 1.5)
    rest = RestPos(server.url, TOKEN, connect_timeout=1.0, read_timeout=5.0)
    import time as clock

    started = clock.monotonic()
    assert place(rest, timeout=0.4) == Transient("timeout")
    assert clock.monotonic() - started < 1.2


def test_the_body_carries_not_after_and_the_vendors_shapes(rest, script, server):
    script.answers[("POST", "/orders")] = (201, ORDER)
    place(rest, record(ttl=60))
    sent = json.loads(server.seen[0]["body"])
    assert sent["not_after"] == "2026-11-23T18:15:00.000Z" and sent["external_id"] == "ord-1"
    assert sent["totals"]["grand_total"] == 2687 and sent["items"][0]["unit_price"] == 899


def test_one_pooled_session_reuses_its_connection(rest, script, server):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION)
    script.answers[("POST", "/orders")] = (201, ORDER)
    script.answers[("GET", "/orders")] = (200, [])
    session = rest.session
    for _ in range(3):
        rest.find_order("ord-1")
        place(rest)
    assert rest.session is session
    assert len({seen["client_port"] for seen in server.seen}) == 1
    adapter = session.get_adapter(server.url)
    assert adapter._pool_maxsize == 100 and adapter.max_retries.total == 0


def test_every_call_is_observed(rest, script, observed):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION)
    script.answers[("GET", "/locations/loc-001/menu")] = (200, MENU)
    script.answers[("POST", "/orders")] = (503, {})
    rest.get_menu("loc-001")
    place(rest)
    assert [o[:2] for o in observed] == [("location", "200"), ("menu", "200"), ("place", "503")]
    assert all(o[2] >= 0 for o in observed)


def test_against_the_simulator(possim):
    import time as clock

    rest = RestPos(possim, TOKEN, connect_timeout=1.0, read_timeout=5.0)
    assert rest.get_menu("loc-001")["location"]["tax_rate"] == "0.0825"
    assert set(rest.get_menu("loc-001")["items"]) >= {"item-001", "mod-001"}
    with pytest.raises(LocationUnknown):
        rest.get_menu("loc-999")
    assert rest.find_order("ord-sim") is None
    later = clock.time() + 600
    first = rest.place_order(record("ord-sim"), later, 5)
    assert isinstance(first, Placed) and not first.replayed
    again = rest.place_order(record("ord-sim"), later, 5)
    assert again == Placed(first.pos_order_id, first.total_cents, replayed=True, created_at=first.created_at)
    assert abs(first.created_at - clock.time()) < 5
    assert rest.find_order("ord-sim").pos_order_id == first.pos_order_id
    other = record("ord-sim")
    other["order_details"]["customer"] = {"name": "Someone else"}
    assert rest.place_order(other, later, 5) == KeyUsed()  # another body under our key: never a refusal
    outcome = rest.place_order(record("ord-closed", location_id="loc-003"), later, 5)
    assert isinstance(outcome, Refused) and outcome.code == "location_closed"
    wrong_token = RestPos(possim, "nope", connect_timeout=1.0, read_timeout=5.0)
    with pytest.raises(PosUnavailable):
        wrong_token.get_menu("loc-001")


def test_the_app_places_an_order_whose_kept_fields_hold_numbers(possim):
    """End to end on the unit layer: the real app and RestPos against the simulator."""
    app = build_app(pos=RestPos(possim, TOKEN, connect_timeout=1.0, read_timeout=5.0), INLINE_BUDGET_MS="20000")
    order = sample_order(uid="ord-km")
    order["order_details"]["fulfillment"]["distance_km"] = Decimal("3.5")
    order["order_details"]["customer"]["lat"] = Decimal("40.7128")
    r = send(app.test_client(), "/posnext/order/submit", order, token=token(JWT_SECRET))
    assert (r.status_code, r.body["status"]) == (200, "placed"), r.body
    assert r.body["order_details"]["fulfillment"]["distance_km"] == Decimal("3.5")


def test_requests_is_the_transport():
    assert isinstance(RestPos("http://127.0.0.1:1", TOKEN).session, requests.Session)
