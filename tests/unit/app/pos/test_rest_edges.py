"""The REST adapter at its edges: the messages an operator reads (PosUnavailable's text reaches
the menu error), the time a read is given, the status boundaries of the outcome mapping, and the
normalised menu checked field by field (issue 22's mutation run found these unasserted)."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from app.pos import rest as rest_module
from app.pos.base import LocationUnknown, Placed, PosUnavailable, Refused, Transient
from app.pos.rest import CallTimeout, RestPos, _never_connected, normalise_menu
from tests.support.pos import CREATED, ORDER, SLOW, place

LOCATION = {"location_id": "loc-001", "accepting_orders": True, "tax_rate": "0.0825"}
MENU = {"updated_at": "2026-11-23T10:00:00Z"}
REDIRECT = " (a redirect, not followed: POS_BASE_URL must be the final address)"


def test_the_menu_is_the_location_and_the_listed_items_with_a_string_id():
    items = [{"id": "A", "price": 100}, {"name": "no id"}, {"id": 7}, "junk"]
    assert normalise_menu(LOCATION, {**MENU, "items": items}) == {
        "location_id": "loc-001",
        "location": LOCATION,
        "updated_at": "2026-11-23T10:00:00Z",
        "items": {"A": {"id": "A", "price": 100}},
    }


@pytest.mark.parametrize("listed", [None, {"A": {"id": "A"}}])
def test_items_that_are_not_a_list_are_no_items(listed):
    assert normalise_menu(LOCATION, {**MENU, "items": listed})["items"] == {}


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (300, {}, "location: HTTP 300" + REDIRECT),
        (399, {}, "location: HTTP 399" + REDIRECT),
        (400, {}, "location: HTTP 400"),
        (200, b"[]", "location: HTTP 200: not a JSON object"),
        (201, LOCATION, "location: HTTP 201"),
        (503, {}, "location: HTTP 503"),
        (None, b"", "location: ConnectionError"),
    ],
)
def test_a_read_that_fails_says_why(rest, script, status, answer, message):
    script.answers[("GET", "/locations/loc-001")] = (status, answer)
    with pytest.raises(PosUnavailable) as failed:
        rest.get_menu("loc-001")
    assert str(failed.value) == message


def test_an_unknown_location_names_the_path_asked(rest):
    with pytest.raises(LocationUnknown) as unknown:
        rest.get_menu("loc-999")
    assert str(unknown.value) == "/locations/loc-999"


@pytest.mark.parametrize("location_id", [".", ".."])
def test_a_dot_location_id_is_named_in_location_unknown(rest, location_id):
    with pytest.raises(LocationUnknown, match=rf"^{location_id}$"):
        rest.get_menu(location_id)


@pytest.mark.parametrize("path", ["/locations/loc-001", "/locations/loc-001/menu"])
def test_each_read_of_a_menu_is_given_only_the_time_left(rest, script, path):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION)
    script.answers[("GET", "/locations/loc-001/menu")] = (200, MENU)
    script.answers[("GET", path)] = (200, LOCATION if path.endswith("001") else MENU, SLOW)
    started = time.monotonic()
    with pytest.raises(PosUnavailable):
        rest.get_menu("loc-001", timeout=0.3)
    assert time.monotonic() - started < SLOW - 0.5


def test_a_menu_without_a_timeout_has_twice_the_longest_call(rest, script):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION, 0.2)
    script.answers[("GET", "/locations/loc-001/menu")] = (200, MENU)
    assert rest.get_menu("loc-001")["location"] == LOCATION


def test_a_lookup_prefers_the_live_order_to_a_voided_one(rest, script):
    voided = {**ORDER, "pos_order_id": "P-1", "status": "voided"}
    script.answers[("GET", "/orders")] = (200, [voided, {**ORDER, "pos_order_id": "P-2"}])
    assert rest.find_order("ord-1") == Placed("P-2", 2687, replayed=True, created_at=CREATED)


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [(201, [ORDER], "lookup: HTTP 201"), (500, {}, "lookup: HTTP 500"), (None, b"", "lookup failed")],
)
def test_a_lookup_that_cannot_answer_says_why(rest, script, status, answer, message):
    script.answers[("GET", "/orders")] = (status, answer)
    with pytest.raises(PosUnavailable) as failed:
        rest.find_order("ord-1")
    assert str(failed.value) == message


@pytest.mark.parametrize(
    ("status", "answer", "outcome"),
    [
        (300, {}, Transient("unexpected HTTP 300 (a redirect: POS_BASE_URL must be the POS's final address)")),
        (399, {}, Transient("unexpected HTTP 399 (a redirect: POS_BASE_URL must be the POS's final address)")),
        (400, {}, Transient("unexpected HTTP 400", ambiguous=False)),
        (201, [ORDER], Transient("unexpected HTTP 201")),
        (422, {"error": {"message": "no"}}, Refused("pos_refused", "no")),
    ],
)
def test_the_outcome_mapping_at_its_boundaries(rest, script, status, answer, outcome):
    script.answers[("POST", "/orders")] = (status, answer)
    assert place(rest) == outcome


def test_a_reset_post_names_the_error(rest, script):
    script.answers[("POST", "/orders")] = (None, b"")
    assert place(rest) == Transient("connection: ConnectionError")


@pytest.mark.parametrize(
    ("status", "answer", "message"), [(401, {}, "void: HTTP 401"), (None, b"", "void: ConnectionError")]
)
def test_a_void_that_fails_says_why_and_warns_with_the_uid(rest, script, caplog, status, answer, message):
    caplog.set_level(logging.WARNING, logger="app.pos.rest")
    script.answers[("POST", "/orders/void")] = (status, answer)
    with pytest.raises(PosUnavailable) as failed:
        rest.void_order("ord-1", "late", 5)
    assert str(failed.value) == message
    [line] = [r for r in caplog.records if r.name == "app.pos.rest"]
    assert (line.operation, line.request_uid) == ("void", "ord-1")
    assert line.outcome == ("unexpected" if status else "connection_error")


def test_a_warning_line_reads_operation_and_outcome_and_its_latency_in_ms(rest, caplog):
    caplog.set_level(logging.WARNING, logger="app.pos.rest")
    rest._warn("place", "503", status=503, seconds=0.12345, uid="ord-1")
    [line] = caplog.records
    assert line.getMessage() == "POS call failed: place 503"
    assert line.latency_ms == 123.5


def test_a_connection_error_without_a_reason_reached_the_pos_maybe():
    assert _never_connected(requests.ConnectionError()) is False
    assert _never_connected(requests.ConnectTimeout()) is True


def test_under_gevent_a_call_is_hard_bound_just_past_its_time(rest, script, monkeypatch):
    from gevent import Timeout, monkey

    monkeypatch.setattr(monkey, "is_module_patched", lambda name: name == "socket")
    bound = rest_module._hard_bound(1.5)
    assert isinstance(bound, Timeout) and bound.seconds == 1.5 and bound.exception is CallTimeout
    monkeypatch.setattr(monkey, "is_module_patched", lambda name: False)
    assert not isinstance(rest_module._hard_bound(1.5), Timeout)
    asked = []
    monkeypatch.setattr(rest_module, "_hard_bound", lambda seconds: asked.append(seconds) or bound.__class__(None))
    script.answers[("POST", "/orders")] = (201, ORDER)
    place(rest, timeout=0.5)
    assert asked == [pytest.approx(0.55)]


def test_the_session_the_adapter_builds(server):
    rest = RestPos(server.url + "/", "tok", ca_bundle="/ca.pem")
    assert (rest.base_url, rest.connect_timeout, rest.read_timeout) == (server.url, 2.0, 10.0)
    adapter = rest.session.get_adapter("https://pos.example")
    assert adapter is rest.session.get_adapter("http://pos.example")
    assert adapter.max_retries.total == 0  # never a retry of a POST by urllib3: the engine retries under the key
    assert (adapter._pool_connections, adapter._pool_maxsize) == (4, 100)
    assert rest.session.trust_env is False and rest.session.verify == "/ca.pem"
    with pytest.raises(PosUnavailable):
        rest.find_order("ord-1", timeout=3)
    assert server.seen[0]["headers"]["Accept"] == "application/json"


def test_a_request_that_cannot_be_made_is_transient():
    assert RestPos("http://[::1", "tok").send_order("k", b"{}", 1) == Transient("request: InvalidURL")


def test_calls_are_observed_with_their_seconds(rest, script, observed):
    script.answers[("POST", "/orders")] = (201, ORDER)
    place(rest)
    script.answers[("POST", "/orders")] = (None, b"")
    place(rest)
    [(op1, outcome1, s1), (op2, outcome2, s2)] = observed
    assert (op1, outcome1, op2, outcome2) == ("place", "201", "place", "connection_error")
    assert 0 <= s1 < 5 and 0 <= s2 < 5


def test_a_read_cut_by_the_callers_time_says_so(rest, impatient, script):
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION, SLOW)
    with pytest.raises(PosUnavailable, match=r"^location: BudgetCut$"):
        rest.get_menu("loc-001", timeout=0.3)
    with pytest.raises(PosUnavailable, match=r"^location: Timeout$"):
        impatient.get_menu("loc-001")


def test_a_menu_without_a_timeout_may_take_twice_the_longest_call(server, script):
    rest = RestPos(server.url, "tok", connect_timeout=0.2, read_timeout=0.5)  # longest call 0.7 s
    script.answers[("GET", "/locations/loc-001")] = (200, LOCATION, 0.3)
    script.answers[("GET", "/locations/loc-001/menu")] = (200, MENU, 0.3)
    assert rest.get_menu("loc-001")["location"] == LOCATION
    assert RestPos("http://h/posX/", "tok").base_url == "http://h/posX"
