"""The Square adapter against a scripted local server: its headers, every CreateOrder answer
mapped to an outcome, the windowed search that finds an order after a timed-out create, the
cancel rules, and the REST adapter's bounds kept."""

from __future__ import annotations

import logging

import pytest

from app.pos.base import (
    InProgress,
    KeyUsed,
    LocationUnknown,
    NotVoidable,
    Placed,
    PosUnavailable,
    Refused,
    Transient,
    Voided,
    VoidedKey,
)
from app.pos.square import SquarePos
from tests.support.pos import SIM_TOKEN as TOKEN
from tests.support.square import NOT_AFTER, ORDER, Square, err, record, sent


@pytest.fixture
def square():
    return Square()


@pytest.fixture
def handler(square):  # conftest's server answers as Square
    return square


@pytest.fixture
def pos(server):
    client = SquarePos(server.url, TOKEN, connect_timeout=1.0, read_timeout=2.0, version="2024-01-18")
    yield client
    client.session.close()


def place(pos):
    return pos.place_order(record(), NOT_AFTER, timeout=3)


def test_every_call_carries_the_bearer_token_and_the_square_version(pos, server, square):
    square.answers[("POST", "/v2/orders")] = (200, {"order": ORDER})
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": [ORDER]})
    place(pos)
    pos.find_order("ord-1", timeout=3)
    assert len(server.seen) == 3
    for seen in server.seen:
        assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert seen["headers"]["Square-Version"] == "2024-01-18"
    body = sent(server, "POST", "/v2/orders")[0]
    assert body["idempotency_key"] == "ord-1" and "Idempotency-Key" not in server.seen[0]["headers"]


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    [
        (200, {"order": ORDER}, Placed("SQ-O1", 2687, created_at=1_795_428_000.0)),
        (200, {"order": dict(ORDER, state="CANCELED")}, VoidedKey()),  # a replay of a key canceled since
        (400, err("IDEMPOTENCY_KEY_REUSED"), KeyUsed()),
        (400, err("INVALID_VALUE", "bad line"), Refused("invalid_value", "bad line")),
        (404, err("NOT_FOUND", "no such location"), Refused("not_found", "no such location")),
        (409, err("CONFLICT"), InProgress()),
        (429, err("RATE_LIMITED"), Transient("HTTP 429 RATE_LIMITED")),
        (503, err("SERVICE_UNAVAILABLE"), Transient("HTTP 503 SERVICE_UNAVAILABLE")),
        (401, err("UNAUTHORIZED"), Transient("unexpected HTTP 401", ambiguous=False)),
        (200, {"order": {}}, Transient("unexpected HTTP 200", ambiguous=True)),
    ],
)
def test_create_order_answers_map_to_outcomes(pos, square, status, answer, outcome):
    square.answers[("POST", "/v2/orders")] = (status, answer)
    assert place(pos) == outcome


def test_a_create_slower_than_the_read_timeout_is_transient_and_warned_once(pos, square, caplog):
    square.answers[("POST", "/v2/orders")] = (200, {"order": ORDER}, 2.5)
    with caplog.at_level(logging.WARNING, logger="app.pos.rest"):
        assert place(pos) == Transient("timeout")
    assert [r.operation for r in caplog.records] == ["place"] and caplog.records[0].outcome == "timeout"


def test_a_lookup_pages_the_window_at_every_location_in_tens(server, square):
    twelve = [{"id": f"L{n:02d}"} for n in range(12)]
    square.answers[("GET", "/v2/locations")] = (200, {"locations": twelve})
    other = dict(ORDER, id="SQ-O0", reference_id="someone-else", metadata={})
    square.answers[("POST", "/v2/orders/search")] = [
        (200, {"orders": [other], "cursor": "page-2"}),
        (200, {}),
        (200, {"orders": [ORDER]}),
    ]
    pos = SquarePos(server.url, TOKEN, search_window=3600)
    found = pos.find_order("ord-1", timeout=3)
    assert found == Placed("SQ-O1", 2687, replayed=True, created_at=1_795_428_000.0)
    searches = sent(server, "POST", "/v2/orders/search")
    assert [s["location_ids"] for s in searches] == [[f"L{n:02d}" for n in range(10)]] * 2 + [["L10", "L11"]]
    assert "cursor" not in searches[0] and searches[1]["cursor"] == "page-2"
    assert searches[0]["query"]["sort"]["sort_field"] == "CREATED_AT"
    assert pos.find_order("nobody", timeout=3) is None
    assert len(sent(server, "GET", "/v2/locations")) == 1  # the locations are kept a while


def test_a_location_map_names_the_square_locations_and_bounds_the_search(server, square):
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": []})
    square.answers[("POST", "/v2/orders")] = (200, {"order": ORDER})
    square.answers[("GET", "/v2/locations/SQ-MAIN")] = (200, {"location": {"id": "SQ-MAIN", "status": "ACTIVE"}})
    square.answers[("GET", "/v2/catalog/list")] = (200, {"objects": []})
    pos = SquarePos(server.url, TOKEN, location_map={"loc-001": "SQ-MAIN", "loc-002": "SQ-HARBOR"})
    place(pos)
    assert sent(server, "POST", "/v2/orders")[0]["order"]["location_id"] == "SQ-MAIN"
    assert pos.find_order("ord-1", timeout=3) is None
    assert sent(server, "POST", "/v2/orders/search")[0]["location_ids"] == ["SQ-HARBOR", "SQ-MAIN"]
    assert not sent(server, "GET", "/v2/locations")
    assert pos.get_menu("loc-001", timeout=3)["location_id"] == "loc-001"


def test_a_lookup_square_cannot_answer_is_pos_unavailable(pos, square):
    square.answers[("POST", "/v2/orders/search")] = (503, err("SERVICE_UNAVAILABLE"))
    with pytest.raises(PosUnavailable):
        pos.find_order("ord-1", timeout=3)


def test_an_unknown_location_is_location_unknown(pos, square):
    square.answers[("GET", "/v2/locations/loc-404")] = (404, err("NOT_FOUND"))
    with pytest.raises(LocationUnknown):
        pos.get_menu("loc-404", timeout=3)


def test_the_catalog_is_read_page_by_page(pos, server, square):
    square.answers[("GET", "/v2/locations/loc-001")] = (200, {"location": {"id": "loc-001", "status": "ACTIVE"}})
    item = {
        "type": "ITEM",
        "id": "I1",
        "item_data": {
            "name": "Tea",
            "variations": [
                {"type": "ITEM_VARIATION", "id": "V1", "item_variation_data": {"price_money": {"amount": 250}}}
            ],
        },
    }
    square.answers[("GET", "/v2/catalog/list")] = [(200, {"objects": [], "cursor": "next"}), (200, {"objects": [item]})]
    menu = pos.get_menu("loc-001", timeout=3)
    assert menu["items"]["V1"]["price"] == 250
    assert [s["path"] for s in server.seen if s["path"].startswith("/v2/catalog")] == [
        "/v2/catalog/list?types=ITEM%2CMODIFIER_LIST%2CTAX%2CDISCOUNT",
        "/v2/catalog/list?types=ITEM%2CMODIFIER_LIST%2CTAX%2CDISCOUNT&cursor=next",
    ]


def test_an_open_order_is_canceled_at_its_version(pos, server, square):
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": [ORDER]})
    square.answers[("PUT", "/v2/orders/SQ-O1")] = (200, {"order": dict(ORDER, state="CANCELED", version=2)})
    assert pos.void_order("ord-1", "cancelled by the guest", timeout=3) == Voided("SQ-O1")
    update = sent(server, "PUT", "/v2/orders/SQ-O1")[0]
    assert update["order"]["version"] == 1 and update["order"]["state"] == "CANCELED"
    assert update["order"]["fulfillments"][0]["state"] == "CANCELED"


def test_a_moved_version_is_read_again_before_the_cancel(pos, server, square):
    square.answers[("POST", "/v2/orders/search")] = [
        (200, {"orders": [ORDER]}),
        (200, {"orders": [dict(ORDER, version=2)]}),
    ]
    square.answers[("PUT", "/v2/orders/SQ-O1")] = [
        (400, err("VERSION_MISMATCH")),
        (200, {"order": dict(ORDER, state="CANCELED", version=3)}),
    ]
    assert pos.void_order("ord-1", "late", timeout=3) == Voided("SQ-O1")
    assert [u["order"]["version"] for u in sent(server, "PUT", "/v2/orders/SQ-O1")] == [1, 2]


@pytest.mark.parametrize(("state", "outcome"), [("COMPLETED", NotVoidable), ("CANCELED", Voided)])
def test_a_closed_order_is_never_updated(pos, server, square, state, outcome):
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": [dict(ORDER, state=state)]})
    assert isinstance(pos.void_order("ord-1", "late", timeout=3), outcome)
    assert not sent(server, "PUT", "/v2/orders/SQ-O1")


def test_no_order_yet_is_voided_none_and_closes_nothing(pos, server, square):
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": []})
    assert pos.void_order("ord-1", "cancelled", timeout=3) == Voided(None)
    assert [s["method"] for s in server.seen] == ["GET", "POST"]  # one listing, one search: no call to close a key


def test_a_cancel_square_keeps_refusing_is_pos_unavailable(pos, square):
    square.answers[("POST", "/v2/orders/search")] = (200, {"orders": [ORDER]})
    square.answers[("PUT", "/v2/orders/SQ-O1")] = (500, err("INTERNAL_SERVER_ERROR"))
    with pytest.raises(PosUnavailable):
        pos.void_order("ord-1", "late", timeout=3)


def test_pos_adapter_square_is_made_from_the_settings():
    from app.pos import make_adapter
    from app.settings import ConfigError, load_settings
    from tests.conftest import BASE_ENV

    settings = load_settings(
        {
            **BASE_ENV,
            "POS_ADAPTER": "square",
            "SQUARE_VERSION": "2024-01-18",
            "SQUARE_LOCATION_MAP": "loc-001=SQ-MAIN, loc-002=SQ-HARBOR",
            "SQUARE_SEARCH_WINDOW_SECONDS": "3600",
        }
    )
    pos = make_adapter(settings)
    assert isinstance(pos, SquarePos) and pos.session.headers["Square-Version"] == "2024-01-18"
    assert pos.location_map == {"loc-001": "SQ-MAIN", "loc-002": "SQ-HARBOR"} and pos.search_window == 3600
    assert (pos.enforces_not_after, pos.voids) == (False, "pos_order_id")
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "SQUARE_LOCATION_MAP": "loc-001"})
    assert caught.value.name == "SQUARE_LOCATION_MAP"
