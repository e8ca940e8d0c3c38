"""FakePos's knobs, which the engine's unit tests lean on (the contract test covers its defaults)."""

from __future__ import annotations

import pytest

from app.orders.order import new_record
from app.pos.base import KeyUsed, NotVoidable, Placed, Refused, Voided, VoidedKey
from tests.support.factories import sample_order
from tests.support.fakes import FakePos
from tests.support.helpers import NOW, Clock


@pytest.fixture
def clock():
    return Clock(NOW)


def order(uid="ord-1"):
    return new_record(sample_order(uid=uid), NOW)


def test_every_body_sent_is_recorded_as_bytes_with_its_key(clock):
    pos = FakePos(clock)
    body = pos.order_body(order(), NOW + 60)
    pos.send_order("ord-1", body, 5)
    pos.place_order(order(), NOW + 60, 5)
    assert pos.bodies == [("ord-1", body), ("ord-1", body)] and pos.made_from["ord-1"] == body


def test_queued_outcomes_answer_first_key_used_included(clock):
    pos = FakePos(clock)
    pos.outcomes.extend([KeyUsed(), Refused("item_unavailable", "86'd")])
    assert pos.place_order(order(), NOW + 60, 5) == KeyUsed()
    assert pos.place_order(order(), NOW + 60, 5) == Refused("item_unavailable", "86'd")
    assert isinstance(pos.place_order(order(), NOW + 60, 5), Placed)


def test_a_pos_ignoring_not_after_places_late_at_its_clock(clock):
    pos = FakePos(clock, enforces_not_after=False)
    placed = pos.place_order(order(), NOW - 10, 5)
    assert isinstance(placed, Placed) and placed.created_at == NOW
    assert pos.find_order("ord-1").created_at == NOW


def test_refused_voids_and_the_void_window(clock):
    pos = FakePos(clock)
    pos.void_window = 30
    pos.place_order(order("a"), NOW + 60, 5)
    pos.place_order(order("b"), NOW + 60, 5)
    clock.advance(31)
    assert isinstance(pos.void_order("a", "late", 5), NotVoidable)
    pos.void_window = float("inf")
    pos.refuse_voids = True
    assert isinstance(pos.void_order("b", "late", 5), NotVoidable)
    assert not pos.find_order("a").voided and not pos.find_order("b").voided
    assert pos.count("void") == 2


def test_a_pos_without_voids_and_one_voiding_by_pos_order_id(clock):
    none = FakePos(clock, voids="none")
    none.place_order(order(), NOW + 60, 5)
    assert isinstance(none.void_order("ord-1", "late", 5), NotVoidable)
    by_id = FakePos(clock, voids="pos_order_id")
    assert by_id.void_order("ord-1", "cancelled", 5) == Voided(None)  # nothing to void: no key closed
    placed = by_id.place_order(order(), NOW + 60, 5)
    assert isinstance(placed, Placed)
    assert by_id.void_order("ord-1", "late", 5) == Voided(placed.pos_order_id)
    assert by_id.place_order(order(), NOW + 60, 5) == VoidedKey()
