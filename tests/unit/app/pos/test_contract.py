"""One contract for every POS adapter (app/pos/base.py), run against the fake the unit layer
uses, the REST adapter and the Square adapter, both talking to the simulator over HTTP (its
REST routes and its Square routes): a new vendor's adapter joins the parametrisation and must
pass the same checks, those its POS's declarations make it skip aside."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
import requests

from app.orders.order import new_record
from app.pos import ADAPTERS, make_adapter
from app.pos.base import (
    Expired,
    KeyUsed,
    LocationUnknown,
    NotVoidable,
    Placed,
    PosAdapter,
    PosUnavailable,
    Voided,
    VoidedKey,
)
from app.settings import load_settings
from tests.conftest import BASE_ENV
from tests.support.factories import sample_order
from tests.support.fakes import FakePos
from tests.support.pos import SIM_TOKEN as TOKEN


@pytest.fixture(params=["fake", *ADAPTERS])
def adapter(request, possim) -> PosAdapter:
    """The fake, and every adapter of the registry built as the service builds it (a new one
    joins by registering: CONTRIBUTING.md)."""
    if request.param == "fake":
        return FakePos()
    env = {
        **BASE_ENV,
        "POS_ADAPTER": request.param,
        "POS_BASE_URL": possim,
        "POS_API_TOKEN": TOKEN,
        "POS_CONNECT_TIMEOUT": "1",
        "POS_READ_TIMEOUT": "5",
    }
    return make_adapter(load_settings(env))


def unreachable(adapter):
    """The same kind of HTTP adapter, at an address nothing answers."""
    return type(adapter)("http://127.0.0.1:1", TOKEN, connect_timeout=0.5, read_timeout=0.5)


@pytest.fixture
def knob(adapter, possim):
    """Set a POS behaviour on either adapter: the fake's attribute, or the simulator's knob for
    loc-002 (the location the tests that turn knobs order from; put back afterwards)."""
    turned = []

    def turn(fake_attribute, fake_value, sim_knob, sim_value):
        if isinstance(adapter, FakePos):
            setattr(adapter, fake_attribute, fake_value)
            return
        answer = requests.put(
            f"{possim}/_admin/knobs/loc-002",
            json={sim_knob: sim_value},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        turned.append(sim_knob)

    yield turn
    if turned:
        requests.put(
            f"{possim}/_admin/knobs/loc-002",
            json=dict.fromkeys(turned),
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )


def order(uid, location_id="loc-001"):
    return new_record(sample_order(uid=uid, location_id=location_id), time.time())


def new_uid(request, kind):
    return f"{kind}-{request.node.callspec.id}-{time.time_ns()}"


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
    needs(adapter.enforces_not_after, "the adapter says its POS does not enforce not_after")
    uid = f"late-{request.node.callspec.id}-{time.time_ns()}"
    assert adapter.place_order(order(uid), not_after=time.time() - 1, timeout=5) == Expired()
    assert adapter.find_order(uid, timeout=5) is None


def test_a_pos_that_cannot_answer_a_read_is_pos_unavailable(adapter, request):
    if isinstance(adapter, FakePos):
        adapter.down = True
    else:
        adapter = unreachable(adapter)
    with pytest.raises(PosUnavailable):
        adapter.get_menu("loc-001", timeout=1)
    with pytest.raises(PosUnavailable):
        adapter.find_order("any", timeout=1)


# a new adapter adds what its POS does
DECLARED = {"fake": (True, "key"), "rest": (True, "key"), "square": (False, "pos_order_id")}


def needs(declared: bool, why: str) -> None:
    """The checks below hold for the POS an adapter declares: skipped for one without the feature."""
    if not declared:
        pytest.skip(why)


def test_each_adapter_declares_what_its_pos_does(adapter, request):
    assert (adapter.enforces_not_after, adapter.voids) == DECLARED[request.node.callspec.id]
    assert isinstance(type(adapter).enforces_not_after, bool) and type(adapter).voids in ("key", "pos_order_id", "none")


def test_the_body_is_built_once_deterministically_and_sent_as_it_is(adapter, request):
    uid = new_uid(request, "bytes")
    record, deadline = order(uid), time.time() + 60
    body = adapter.order_body(record, deadline)
    assert isinstance(body, bytes) and uid in json.dumps(json.loads(body))  # the key travels with the order
    assert adapter.order_body(copy.deepcopy(record), deadline) == body  # the same record, the same bytes
    assert adapter.order_body(record, deadline + 1) != body
    first = adapter.send_order(uid, body, timeout=5)
    again = adapter.send_order(uid, body, timeout=5)
    assert isinstance(first, Placed) and isinstance(again, Placed) and again.pos_order_id == first.pos_order_id


def test_created_at_comes_back_from_the_post_and_the_lookup(adapter, request):
    uid = new_uid(request, "created")
    before = time.time()
    placed = adapter.place_order(order(uid), not_after=time.time() + 60, timeout=5)
    assert isinstance(placed, Placed) and before - 0.01 <= placed.created_at <= time.time()
    found = adapter.find_order(uid, timeout=5)
    assert (found.pos_order_id, found.created_at, found.voided) == (placed.pos_order_id, placed.created_at, False)


def test_another_body_under_a_used_key_is_key_used_never_refused(adapter, request):
    uid = new_uid(request, "reused")
    deadline = time.time() + 60
    placed = adapter.place_order(order(uid), deadline, timeout=5)
    other = order(uid)
    other["order_details"]["customer"] = {"name": "Someone else"}
    assert adapter.place_order(other, deadline, timeout=5) == KeyUsed()
    assert adapter.find_order(uid, timeout=5).pos_order_id == placed.pos_order_id  # look it up


def test_a_void_voids_the_order_and_closes_its_key(adapter, request):
    needs(adapter.voids == "key", "the adapter says its POS does not void by key")
    uid = new_uid(request, "void")
    body = adapter.order_body(order(uid), time.time() + 60)
    placed = adapter.send_order(uid, body, timeout=5)
    assert adapter.void_order(uid, "placed late", timeout=5) == Voided(placed.pos_order_id)
    assert adapter.void_order(uid, "placed late", timeout=5) == Voided(placed.pos_order_id)  # idempotent
    found = adapter.find_order(uid, timeout=5)
    assert found.pos_order_id == placed.pos_order_id and found.voided
    assert adapter.send_order(uid, body, timeout=5) == VoidedKey()


def test_a_void_before_any_order_closes_the_key(adapter, request):
    needs(adapter.voids == "key", "the adapter says its POS does not void by key")
    uid = new_uid(request, "closed")
    assert adapter.void_order(uid, "cancelled", timeout=5) == Voided(None)
    assert adapter.place_order(order(uid), time.time() + 60, timeout=5) == VoidedKey()
    assert adapter.find_order(uid, timeout=5) is None


def test_an_order_past_the_void_window_is_not_voidable(adapter, request, knob):
    needs(adapter.voids != "none", "the adapter says its POS cannot void")
    knob("void_window", 0.0, "void_window_ms", 0)
    uid = new_uid(request, "kitchen")
    placed = adapter.place_order(order(uid, "loc-002"), time.time() + 60, timeout=5)
    outcome = adapter.void_order(uid, "placed late", timeout=5)
    assert isinstance(outcome, NotVoidable) and outcome.message
    found = adapter.find_order(uid, timeout=5)
    assert found.pos_order_id == placed.pos_order_id and not found.voided


def test_a_pos_ignoring_not_after_places_late_and_created_at_says_so(adapter, request, knob):
    knob("enforces_not_after", False, "honour_not_after", False)
    uid = new_uid(request, "ignored")
    deadline = time.time() - 1
    placed = adapter.place_order(order(uid, "loc-002"), deadline, timeout=5)
    assert isinstance(placed, Placed) and placed.created_at > deadline
    assert adapter.void_order(uid, "placed late", timeout=5) == Voided(placed.pos_order_id)


def test_a_post_held_when_a_void_arrives_makes_nothing(adapter, request, knob, possim):
    needs(adapter.voids == "key", "the adapter says its POS does not void by key")
    knob("delay", 0.5, "latency_ms", 500)
    uid = new_uid(request, "held")
    results = []
    post = threading.Thread(
        target=lambda: results.append(adapter.place_order(order(uid, "loc-002"), time.time() + 60, timeout=5))
    )
    post.start()
    held = time.monotonic() + 5
    while not _in_progress(adapter, possim, uid):
        assert time.monotonic() < held, "the POST never reached the POS"
        time.sleep(0.01)
    assert adapter.void_order(uid, "cancelled", timeout=5) == Voided(None)
    post.join(10)
    assert results == [VoidedKey()]
    assert adapter.find_order(uid, timeout=5) is None


def _in_progress(adapter, possim, uid) -> bool:
    if isinstance(adapter, FakePos):
        return ("place", uid) in adapter.calls
    stats = requests.get(f"{possim}/_admin/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    return stats["in_progress"] > 0


def test_a_void_the_pos_cannot_answer_is_pos_unavailable(adapter):
    if isinstance(adapter, FakePos):
        adapter.void_down = True
    else:
        adapter = unreachable(adapter)
    with pytest.raises(PosUnavailable):
        adapter.void_order("any", "cancelled", timeout=1)


def test_a_void_before_any_order_leaves_the_key_open(adapter, request):
    needs(adapter.voids == "pos_order_id", "the adapter's POS closes a key by a void")
    uid = new_uid(request, "open")
    assert adapter.void_order(uid, "cancelled", timeout=5) == Voided(None)  # nothing there now, and only now
    placed = adapter.place_order(order(uid), time.time() + 60, timeout=5)
    assert isinstance(placed, Placed)
    assert adapter.void_order(uid, "cancelled", timeout=5) == Voided(placed.pos_order_id)
    assert adapter.find_order(uid, timeout=5).voided
