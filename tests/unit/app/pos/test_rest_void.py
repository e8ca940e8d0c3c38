"""The REST adapter's POST /orders/void, and POST /orders sent byte for byte from order_body."""

from __future__ import annotations

import json

import pytest

from app.pos.base import NotVoidable, Placed, PosUnavailable, Voided
from app.pos.rest import RestPos
from tests.support.pos import CREATED, NOT_AFTER, ORDER, SLOW, record
from tests.support.pos import SIM_TOKEN as TOKEN

VOID_ANSWERS = [
    (200, {"external_id": "ord-1", "status": "voided", "pos_order_id": "P-000042"}, Voided("P-000042")),
    (200, {"external_id": "ord-1", "status": "voided", "pos_order_id": None}, Voided(None)),
    (409, {"error": {"code": "not_voidable", "message": "the kitchen has it"}}, NotVoidable("the kitchen has it")),
    (409, {"error": {"code": "not_voidable"}}, NotVoidable("the POS will no longer void this order")),
]


@pytest.mark.parametrize(("status", "answer", "outcome"), VOID_ANSWERS)
def test_each_void_answer_maps_to_an_outcome(rest, script, server, status, answer, outcome):
    script.answers[("POST", "/orders/void")] = (status, answer)
    assert rest.void_order("ord-1", "placed after its deadline", timeout=5) == outcome
    [seen] = server.seen
    assert (seen["method"], seen["path"]) == ("POST", "/orders/void")
    assert seen["headers"]["Idempotency-Key"] == "void:ord-1"
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert json.loads(seen["body"]) == {"external_id": "ord-1", "reason": "placed after its deadline"}


@pytest.mark.parametrize(
    ("status", "answer", "delay"),
    [
        (503, {"error": {"code": "pos_down"}}, 0),
        (429, {}, 0),
        (500, b"", 0),
        (None, b"", 0),
        (200, {"status": "accepted"}, 0),
        (200, b"not json", 0),
        (409, {"error": {"code": "in_progress"}}, 0),
        (422, {"error": {"code": "whatever"}}, 0),
        (404, {}, 0),
        (200, {"status": "voided"}, SLOW),
    ],
    ids=["503", "429", "500", "reset", "not-voided", "not-json", "409-other", "422", "404", "timeout"],
)
def test_a_void_the_pos_does_not_answer_as_the_contract_says_is_pos_unavailable(
    impatient, script, status, answer, delay
):
    script.answers[("POST", "/orders/void")] = (status, answer, delay)
    with pytest.raises(PosUnavailable):
        impatient.void_order("ord-1", "late", timeout=5)


def test_send_order_posts_the_given_bytes_as_they_are(rest, script, server):
    script.answers[("POST", "/orders")] = (201, ORDER)
    body = b'{"external_id": "ord-1",   "whatever": "the engine stored"}'
    assert rest.send_order("ord-1", body, timeout=5) == Placed("P-000042", 2687, created_at=CREATED)
    [seen] = server.seen
    assert seen["body"] == body and seen["headers"]["Idempotency-Key"] == "ord-1"


def test_place_order_sends_order_body_s_bytes(rest, script, server):
    script.answers[("POST", "/orders")] = (201, ORDER)
    rest.place_order(record(), NOT_AFTER, 5)
    rest.place_order(record(), NOT_AFTER, 5)
    assert server.seen[0]["body"] == server.seen[1]["body"] == rest.order_body(record(), NOT_AFTER)


def test_order_body_depends_on_the_record_s_content_not_its_key_order(rest):
    one, two = record(), record()
    one["order_details"]["customer"] = {"name": "Ann", "phone": "555-0100", "address": {"city": "X", "zip": "1"}}
    two["order_details"]["customer"] = {"address": {"zip": "1", "city": "X"}, "phone": "555-0100", "name": "Ann"}
    assert rest.order_body(one, NOT_AFTER) == rest.order_body(two, NOT_AFTER)
    body = json.loads(rest.order_body(one, NOT_AFTER))
    assert body["not_after"] == "2026-11-23T18:15:00.000Z" and body["external_id"] == "ord-1"


def test_the_rest_pos_declares_a_pos_that_enforces_not_after_and_voids_by_key():
    assert (RestPos.enforces_not_after, RestPos.voids) == (True, "key")
