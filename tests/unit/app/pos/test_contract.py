"""One contract for every POS adapter (app/pos/base.py), run against the fake the unit layer
uses and against the REST adapter talking to the simulator over HTTP: a new vendor's adapter
joins the parametrisation and must pass the same checks."""

from __future__ import annotations

import time

import pytest

from app.orders import records
from app.pos.base import Expired, LocationUnknown, Placed, PosAdapter, PosUnavailable
from app.pos.rest import RestPos
from bin.sample import sample_order
from tests.support.fakes import FakePos
from tests.unit.app.pos.conftest import SIM_TOKEN as TOKEN


@pytest.fixture(params=["fake", "rest"])
def adapter(request, possim) -> PosAdapter:
    if request.param == "fake":
        return FakePos()
    return RestPos(possim, TOKEN, connect_timeout=1.0, read_timeout=5.0)


def order(uid):
    return records.new_record(sample_order(uid=uid), time.time())


def test_a_menu_comes_back_in_the_services_shape(adapter):
    menu = adapter.get_menu("loc-001", timeout=5)
    assert menu["location"]["accepting_orders"] is True and menu["location"]["tax_rate"] == "0.0825"
    item = menu["items"]["item-001"]
    assert isinstance(item["price"], int) and item["item_type"] == "Item" and item["available"] is True


def test_an_unknown_location_is_location_unknown(adapter):
    with pytest.raises(LocationUnknown):
        adapter.get_menu("loc-999", timeout=5)


def test_one_key_makes_one_order_and_a_lookup_finds_it(adapter, request):
    uid = f"contract-{request.node.callspec.id}-{time.time_ns()}"
    assert adapter.find_order(uid, timeout=5) is None
    deadline = time.time() + 60  # an order's deadline never changes: the same call, retried
    first = adapter.place_order(order(uid), not_after=deadline, timeout=5)
    again = adapter.place_order(order(uid), not_after=deadline, timeout=5)
    assert isinstance(first, Placed) and isinstance(again, Placed)
    assert again.pos_order_id == first.pos_order_id
    assert adapter.find_order(uid, timeout=5).pos_order_id == first.pos_order_id


def test_nothing_is_created_after_not_after(adapter, request):
    uid = f"late-{request.node.callspec.id}-{time.time_ns()}"
    assert adapter.place_order(order(uid), not_after=time.time() - 1, timeout=5) == Expired()
    assert adapter.find_order(uid, timeout=5) is None


def test_a_pos_that_cannot_answer_a_read_is_pos_unavailable(adapter, request):
    if isinstance(adapter, FakePos):
        adapter.down = True
    else:
        adapter = RestPos("http://127.0.0.1:1", TOKEN, connect_timeout=0.5, read_timeout=0.5)
    with pytest.raises(PosUnavailable):
        adapter.get_menu("loc-001", timeout=1)
    with pytest.raises(PosUnavailable):
        adapter.find_order("any", timeout=1)
