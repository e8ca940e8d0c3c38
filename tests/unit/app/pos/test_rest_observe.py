"""The REST adapter's own observability: a call cut by its caller's time (`budget_cut`) told
from the POS's own slowness (`timeout`), and one WARNING line per failed call, without secrets."""

from __future__ import annotations

import json
import logging

import pytest

from app.logs import JsonFormatter
from app.pos.base import NotVoidable, PosUnavailable, Transient
from app.pos.rest import RestPos
from tests.support.pos import ORDER, SLOW, place
from tests.support.pos import SIM_TOKEN as TOKEN


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.INFO, logger="app.pos.rest")
    return lambda: [r for r in caplog.records if r.name == "app.pos.rest" and r.levelno == logging.WARNING]


def fields(record) -> dict:
    return {k: getattr(record, k, "absent") for k in ("operation", "outcome", "status", "request_uid")}


def test_a_call_cut_by_its_callers_time_is_budget_cut(rest, script, observed, warnings):
    script.answers[("POST", "/orders")] = (201, ORDER, 1.5)
    assert place(rest, timeout=0.4) == Transient("timeout")  # (connect 1 + read 5 s; the caller gave 0.4)
    assert observed[-1][:2] == ("place", "budget_cut") and observed[-1][2] >= 0.39
    [line] = warnings()
    assert fields(line) == {"operation": "place", "outcome": "budget_cut", "status": None, "request_uid": "ord-1"}
    assert line.latency_ms >= 390


def test_the_pos_slower_than_the_adapters_own_timeouts_is_timeout(impatient, script, observed, warnings):
    script.answers[("POST", "/orders")] = (201, ORDER, SLOW)
    assert place(impatient, timeout=5.0) == Transient("timeout")  # the caller gave more than connect + read
    assert observed[-1][:2] == ("place", "timeout")
    assert [fields(r)["outcome"] for r in warnings()] == ["timeout"]


def test_a_read_timeout_inside_the_callers_time_is_the_pos_s_own_timeout(impatient, script, observed):
    script.answers[("GET", "/orders")] = (200, [], SLOW)
    with pytest.raises(PosUnavailable):
        impatient.find_order("ord-1", timeout=1.0)  # less than 1.3 s, but the 0.3 s read timeout ends it
    assert observed[-1][:2] == ("lookup", "timeout") and observed[-1][2] < 0.9


def test_a_lookup_and_a_void_cut_by_the_caller_are_budget_cut(rest, script, observed, warnings):
    script.answers[("GET", "/orders")] = (200, [], 1.5)
    script.answers[("POST", "/orders/void")] = (200, {"status": "voided", "pos_order_id": None}, 1.5)
    with pytest.raises(PosUnavailable):
        rest.find_order("ord-1", timeout=0.3)
    with pytest.raises(PosUnavailable):
        rest.void_order("ord-1", "late", timeout=0.3)
    assert [o[:2] for o in observed] == [("lookup", "budget_cut"), ("void", "budget_cut")]
    assert [fields(r) for r in warnings()] == [
        {"operation": "lookup", "outcome": "budget_cut", "status": None, "request_uid": "ord-1"},
        {"operation": "void", "outcome": "budget_cut", "status": None, "request_uid": "ord-1"},
    ]


FAILED_POSTS = [
    ((503, {"error": {"code": "pos_down"}}), "503", 503),
    ((429, {"error": {"code": "slow_down"}}), "429", 429),
    ((None, b""), "connection_error", None),
    ((404, {"error": {"code": "not_found"}}), "unexpected", 404),
    ((201, {"status": "accepted"}), "unexpected", 201),
    ((302, b""), "unexpected", 302),
]


@pytest.mark.parametrize(("answer", "outcome", "status"), FAILED_POSTS, ids=[f[1] + str(f[2]) for f in FAILED_POSTS])
def test_every_failed_post_is_one_warning_line(rest, script, warnings, answer, outcome, status):
    script.answers[("POST", "/orders")] = answer
    assert isinstance(place(rest), Transient)
    [line] = warnings()
    assert fields(line) == {"operation": "place", "outcome": outcome, "status": status, "request_uid": "ord-1"}
    assert isinstance(line.latency_ms, float) and line.latency_ms >= 0


@pytest.mark.parametrize(
    "answer",
    [
        (201, ORDER),
        (200, ORDER),
        (409, {"error": {"code": "in_progress"}}),
        (422, {"error": {"code": "item_unavailable"}}),
        (422, {"error": {"code": "expired"}}),
        (422, {"error": {"code": "idempotency_key_reused"}}),
        (422, {"error": {"code": "voided"}}),
    ],
    ids=["201", "200", "409", "refused", "expired", "key-used", "voided"],
)
def test_an_answer_of_the_contract_logs_no_warning(rest, script, warnings, answer):
    script.answers[("POST", "/orders")] = answer
    place(rest)
    assert warnings() == []


def test_failed_reads_and_voids_are_one_warning_line_each(rest, script, warnings):
    script.answers[("GET", "/locations/loc-001")] = (401, {"error": {"code": "unauthorized"}})
    script.answers[("GET", "/orders")] = (200, {"not": "a list"})
    script.answers[("POST", "/orders/void")] = (503, {})
    for call in (
        lambda: rest.get_menu("loc-001"),
        lambda: rest.find_order("ord-1"),
        lambda: rest.void_order("ord-1", "late", 5),
    ):
        with pytest.raises(PosUnavailable):
            call()
    menu, lookup, void = warnings()
    assert fields(menu) == {"operation": "location", "outcome": "unexpected", "status": 401, "request_uid": "absent"}
    assert fields(lookup) == {"operation": "lookup", "outcome": "unexpected", "status": 200, "request_uid": "ord-1"}
    assert fields(void) == {"operation": "void", "outcome": "503", "status": 503, "request_uid": "ord-1"}
    script.answers[("POST", "/orders/void")] = (409, {"error": {"code": "not_voidable", "message": "kitchen"}})
    assert rest.void_order("ord-1", "late", 5) == NotVoidable("kitchen")
    assert len(warnings()) == 3


def test_a_warning_line_carries_neither_the_token_nor_the_body(rest, script, warnings):
    script.answers[("POST", "/orders")] = (500, {"error": {"code": "boom", "message": "Burger for Ann"}})
    place(rest)
    [line] = warnings()
    text = JsonFormatter("web", secrets=[]).format(line)
    entry = json.loads(text)
    assert {"operation", "outcome", "status", "latency_ms", "request_uid"} <= set(entry)
    assert TOKEN not in text and "Bearer" not in text
    assert "item-001" not in text and "not_after" not in text and "Burger" not in text


def test_a_refused_connection_is_one_warning_line(warnings):
    from tests.support.helpers import free_port

    rest = RestPos(f"http://127.0.0.1:{free_port()}", TOKEN, connect_timeout=0.5, read_timeout=0.5)
    assert isinstance(place(rest), Transient)
    assert [fields(r)["outcome"] for r in warnings()] == ["connection_error"]
