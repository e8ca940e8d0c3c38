"""The Square adapter at its edges: its defaults, the messages an operator reads, the time each
call is given, the headers and bodies of each call, and the error shapes Square may answer
(issue 22's mutation run found these unasserted)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from app.pos.base import LocationUnknown, PosUnavailable, Refused, Transient, Voided
from app.pos.square import SquarePos
from tests.support.pos import SIM_TOKEN as TOKEN
from tests.support.square import ORDER, Square, err, record, sent

SLOW = 1.5
SEARCH = ("POST", "/v2/orders/search")


@pytest.fixture
def square():
    return Square()


@pytest.fixture
def handler(square):  # conftest's server answers as Square
    return square


@pytest.fixture
def pos(server, observed):
    client = SquarePos(server.url, TOKEN, connect_timeout=1.0, read_timeout=2.0, observe=lambda *a: observed.append(a))
    yield client
    client.session.close()


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger="app.pos.rest")
    return lambda: [(r.operation, r.outcome, getattr(r, "request_uid", None)) for r in caplog.records]


def test_the_defaults_and_the_settings_given():
    default = SquarePos("http://127.0.0.1:1", TOKEN)
    assert (default.connect_timeout, default.read_timeout, default.search_window, default.currency) == (
        2.0,
        10.0,
        86400.0,
        "USD",
    )
    assert default.session.headers["Square-Version"] == "2025-05-21"
    assert default.session.get_adapter("http://x")._pool_maxsize == 100
    given = SquarePos("http://127.0.0.1:1", TOKEN, connect_timeout=0.5, read_timeout=1.5, ca_bundle="/ca.pem")
    assert (given.longest_call, given.session.verify) == (2.0, "/ca.pem")


def test_every_call_is_observed(pos, square, observed):
    square.answers[SEARCH] = (200, {"orders": []})
    assert pos.find_order("ord-1", timeout=3) is None
    assert [(op, outcome) for op, outcome, _ in observed] == [("locations", "200"), ("lookup", "200")]


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ((400, []), Transient("unexpected HTTP 400", ambiguous=False)),
        ((400, {"errors": []}), Transient("unexpected HTTP 400", ambiguous=False)),
        ((400, {"errors": [{"detail": "d"}]}), Transient("unexpected HTTP 400", ambiguous=False)),
        ((400, {"errors": [{"code": "BAD"}]}), Refused("bad", "Square refused the order")),
        ((500, {"errors": [{}]}), Transient("HTTP 500")),
        ((503, err("SERVICE_UNAVAILABLE")), Transient("HTTP 503 SERVICE_UNAVAILABLE")),
    ],
)
def test_error_shapes_square_may_answer(pos, square, answer, outcome):
    square.answers[("POST", "/v2/orders")] = answer
    assert pos.place_order(record(), 1_795_457_700.0, timeout=3) == outcome


def test_reads_carry_no_body_and_writes_carry_json(pos, server, square):
    square.answers[SEARCH] = (200, {"orders": []})
    square.answers[("POST", "/v2/orders")] = (200, {"order": ORDER})
    pos.find_order("ord-1", timeout=3)
    pos.place_order(record(), 1_795_457_700.0, timeout=3)
    listing, search, create = server.seen
    assert listing["body"] == b"" and "Content-Type" not in listing["headers"]
    assert search["headers"]["Content-Type"] == create["headers"]["Content-Type"] == "application/json"


def test_the_currency_given_is_the_bodys(server):
    pos = SquarePos(server.url, TOKEN, currency="EUR")
    body = json.loads(pos.order_body(record(), 1_795_457_700.0))
    assert {line["base_price_money"]["currency"] for line in body["order"]["line_items"]} == {"EUR"}


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda pos: pos.find_order("ord-1", timeout=0.3), SEARCH),
        (lambda pos: pos.void_order("ord-1", "late", timeout=0.3), SEARCH),
        (lambda pos: pos.get_menu("loc-001", timeout=0.3), ("GET", "/v2/locations/loc-001")),
    ],
    ids=["lookup", "void", "menu"],
)
def test_a_call_is_given_only_the_time_its_caller_has(pos, square, call, path):
    square.answers[path] = (200, {"orders": []}, SLOW)
    started = time.monotonic()
    with pytest.raises(PosUnavailable):
        call(pos)
    assert time.monotonic() - started < SLOW - 0.5


def test_a_create_is_given_only_the_time_its_caller_has(pos, square):
    square.answers[("POST", "/v2/orders")] = (200, {"order": ORDER}, SLOW)
    started = time.monotonic()
    assert pos.send_order("ord-1", pos.order_body(record(), 1_795_457_700.0), timeout=0.3) == Transient("timeout")
    assert time.monotonic() - started < SLOW - 0.5


def test_calls_without_a_timeout_have_twice_the_longest_call(pos, square):
    square.answers[SEARCH] = (200, {"orders": [ORDER]}, 0.2)
    square.answers[("PUT", "/v2/orders/SQ-O1")] = (200, {"order": dict(ORDER, state="CANCELED")})
    assert pos.find_order("ord-1") is not None
    assert pos.void_order("ord-1", "late", timeout=None) == Voided("SQ-O1")


@pytest.mark.parametrize(
    ("path", "answer", "call", "message"),
    [
        (SEARCH, (503, err("SERVICE_UNAVAILABLE")), "find", "lookup: HTTP 503 SERVICE_UNAVAILABLE"),
        (SEARCH, (502, b""), "find", "lookup: HTTP 502 "),
        (SEARCH, (404, err("NOT_FOUND")), "find", "lookup: HTTP 404"),
        (SEARCH, (None, b""), "find", "lookup: ConnectionError"),
        (("GET", "/v2/locations"), (503, err("UNAVAILABLE")), "find", "locations: HTTP 503 UNAVAILABLE"),
        (("GET", "/v2/locations/loc-001"), (200, {"no": "location"}), "menu", "location: no location in the answer"),
        (("GET", "/v2/locations/loc-001"), (401, err("UNAUTHORIZED")), "menu", "location: HTTP 401 UNAUTHORIZED"),
        (("GET", "/v2/catalog/list"), (503, err("UNAVAILABLE")), "menu", "menu: HTTP 503 UNAVAILABLE"),
    ],
)
def test_a_call_that_fails_says_why(pos, square, path, answer, call, message):
    square.answers[("GET", "/v2/locations/loc-001")] = (200, {"location": {"id": "loc-001"}})
    square.answers[path] = answer
    with pytest.raises(PosUnavailable) as failed:
        pos.find_order("ord-1", timeout=3) if call == "find" else pos.get_menu("loc-001", timeout=3)
    assert str(failed.value) == message


def test_out_of_time_names_the_call(pos):
    with pytest.raises(PosUnavailable, match=r"^locations: out of time$"):
        pos.find_order("ord-1", timeout=0.01)


def test_an_unknown_location_names_the_path(pos):
    with pytest.raises(LocationUnknown, match=r"^/v2/locations/loc-404$"):
        pos.get_menu("loc-404", timeout=3)


def test_failed_calls_warn_with_their_operation_and_uid(pos, square, warnings):
    square.answers[SEARCH] = [(200, {"orders": [ORDER]}), (401, err("UNAUTHORIZED"))]
    square.answers[("PUT", "/v2/orders/SQ-O1")] = (401, err("UNAUTHORIZED"))
    square.answers[("POST", "/v2/orders")] = (500, err("INTERNAL_SERVER_ERROR"))
    with pytest.raises(PosUnavailable):
        pos.void_order("ord-1", "late", timeout=3)
    pos.place_order(record(), 1_795_457_700.0, timeout=3)
    assert warnings() == [
        ("void", "unexpected", "ord-1"),
        ("lookup", "unexpected", "ord-1"),
        ("place", "500", "ord-1"),
    ]


def test_the_listing_skips_locations_without_an_id(pos, server, square):
    square.answers[("GET", "/v2/locations")] = (200, {"locations": [{"id": "B"}, {"name": "no id"}, {"id": "A"}]})
    square.answers[SEARCH] = (200, {"orders": []})
    pos.find_order("ord-1", timeout=3)
    assert sent(server, "POST", "/v2/orders/search")[0]["location_ids"] == ["A", "B"]


def test_the_catalog_keeps_every_pages_objects(pos, square):
    square.answers[("GET", "/v2/locations/loc-001")] = (200, {"location": {"id": "loc-001"}})
    fixed = {"discount_type": "FIXED_AMOUNT"}
    square.answers[("GET", "/v2/catalog/list")] = [
        (200, {"objects": [{"type": "DISCOUNT", "id": "D1", "discount_data": fixed}], "cursor": "c1"}),
        (200, {"objects": [{"type": "DISCOUNT", "id": "D2", "discount_data": fixed}]}),
    ]
    assert set(pos.get_menu("loc-001", timeout=3)["items"]) == {"D1", "D2"}


def test_a_cancel_names_its_key_and_reason_and_is_tried_three_times(pos, server, square):
    square.answers[SEARCH] = (200, {"orders": [ORDER]})
    square.answers[("PUT", "/v2/orders/SQ-O1")] = (200, {"order": ORDER})  # answered, still OPEN
    with pytest.raises(PosUnavailable, match=r"^void: the order did not settle$"):
        pos.void_order("ord-1", "late", timeout=3)
    updates = sent(server, "PUT", "/v2/orders/SQ-O1")
    assert len(updates) == 3
    assert updates[0]["idempotency_key"] == "cancel-v1-ord-1"
    assert updates[0]["order"]["fulfillments"][0]["pickup_details"] == {"cancel_reason": "late"}


def test_a_canceled_order_is_voided_with_its_id(pos, square):
    square.answers[SEARCH] = (200, {"orders": [dict(ORDER, state="CANCELED")]})
    assert pos.void_order("ord-1", "late", timeout=3) == Voided("SQ-O1")


def test_a_failed_search_warns_with_the_uid_and_the_pool_is_as_given(server, square, warnings):
    pos = SquarePos(server.url, TOKEN, pool_size=7)
    assert pos.session.get_adapter("http://x")._pool_maxsize == 7
    square.answers[SEARCH] = (503, err("SERVICE_UNAVAILABLE"))
    with pytest.raises(PosUnavailable):
        pos.find_order("ord-1", timeout=3)
    assert warnings() == [("lookup", "503", "ord-1")]


@pytest.mark.parametrize(("pages", "whole"), [(1, True), (4, False)])
def test_a_menu_without_a_timeout_is_bounded_by_twice_the_longest_call(server, square, pages, whole):
    pos = SquarePos(server.url, TOKEN, connect_timeout=0.2, read_timeout=0.5)  # longest call 0.7 s: 1.4 s in all
    square.answers[("GET", "/v2/locations/loc-001")] = (200, {"location": {"id": "loc-001"}}, 0.35)
    square.answers[("GET", "/v2/catalog/list")] = [(200, {"objects": [], "cursor": "c"}, 0.35)] * (pages - 1) + [
        (200, {"objects": []}, 0.35)
    ]
    if whole:
        assert pos.get_menu("loc-001")["location_id"] == "loc-001"  # 0.7 s
    else:
        with pytest.raises(PosUnavailable):
            pos.get_menu("loc-001")  # 1.75 s of answers: the last page is cut
