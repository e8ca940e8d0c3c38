"""The ledger, knobs and body helpers without Flask: idempotency under threads, merges, hashes."""

import threading

import pytest

from possim import knobs as knobs_mod
from possim.ledger import Ledger, order_item_ids
from possim.orderbody import BodyError, body_hash, check_order_body
from possim.seed import SEED, default_seed

BODY = {
    "external_id": "req-1",
    "location_id": "loc-001",
    "items": [
        {
            "id": "item-002",
            "item_type": "Item",
            "quantity": 1,
            "unit_price": 349,
            "children": [{"id": "mod-001", "item_type": "Modifier", "quantity": 1, "unit_price": 150}],
        }
    ],
    "totals": {"subtotal": 499, "discount_total": 0, "tax": 41, "tip": 100, "grand_total": 640},
    "fulfillment": {"type": "pickup"},
    "customer": None,
    "scheduled_for": None,
}


@pytest.fixture
def ledger():
    return Ledger(default_seed())


def test_claim_place_release_then_replay_and_reuse(ledger):
    claim = ledger.claim("k", "h1")
    assert claim.kind == "new"
    assert ledger.claim("k", "h1").kind == "in_progress"
    assert ledger.claim("k", "h2").kind == "in_progress"
    placement = ledger.place(claim, BODY, "t0")
    ledger.release(claim)
    assert placement.order["total"] == 640 and placement.code is None
    replay = ledger.claim("k", "h1")
    assert replay.kind == "replay" and replay.order == placement.order
    assert ledger.claim("k", "h2").kind == "reused"


def test_a_released_claim_without_order_leaves_the_key_free(ledger):
    claim = ledger.claim("k", "h1")
    ledger.release(claim)
    assert ledger.claim("k", "h2").kind == "new"


def test_place_never_makes_a_second_order_for_a_key(ledger):
    first = ledger.claim("k", "h")
    ledger.reset()  # a reset while a call holds the key lets another call claim it
    second = ledger.claim("k", "h")
    made = ledger.place(second, BODY, "t0").order
    assert ledger.place(first, BODY, "t0").order == made
    ledger.release(first)
    assert ledger.claim("k", "h").kind == "replay"  # the stale release freed nothing
    assert ledger.ledger_view()["count"] == 1


def test_one_claim_wins_among_many_threads(ledger):
    barrier = threading.Barrier(50)
    kinds = []

    def race():
        barrier.wait()
        kinds.append(ledger.claim("k", "h").kind)

    threads = [threading.Thread(target=race) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kinds.count("new") == 1 and kinds.count("in_progress") == 49


def test_refusal_codes(ledger):
    def refusal(**change):
        body = {**BODY, **change}
        claim = ledger.claim(body["external_id"], body_hash(body))
        try:
            return ledger.place(claim, body, "t0").code
        finally:
            ledger.release(claim)

    assert refusal(external_id="a", location_id="nope") == "location_unknown"
    assert refusal(external_id="b", location_id="loc-003") == "location_closed"
    assert refusal(external_id="c", items=[{"id": "mod-001", "children": [{"id": "item-004"}]}]) == "item_unavailable"
    assert refusal(external_id="d") is None
    assert [o["external_id"] for o in ledger.find_orders("d")] == ["d"]
    assert ledger.ledger_view()["count"] == 1


def test_order_item_ids_walks_children():
    assert order_item_ids(BODY["items"]) == ["item-002", "mod-001"]


def test_body_hash_is_canonical():
    reordered = dict(reversed(list(BODY.items())))
    assert body_hash(reordered) == body_hash(BODY)
    assert body_hash({**BODY, "external_id": "req-2"}) != body_hash(BODY)


def test_check_order_body_accepts_the_contract_and_refuses_deep_nesting():
    check_order_body(BODY)
    item = {"id": "x", "item_type": "Item", "quantity": 1, "unit_price": 0}
    for _ in range(6):
        item = {**item, "children": [item]}
    with pytest.raises(BodyError, match="deeper"):
        check_order_body({**BODY, "items": [item]})


def test_knob_merge_and_effective():
    entry = knobs_mod.merge({}, {"latency_ms": 5, "items": {"item-001": False}})
    entry = knobs_mod.merge(entry, {"items": {"item-001": None, "item-002": True}})
    assert entry == {"latency_ms": 5, "items": {"item-002": True}}
    entry = knobs_mod.merge(entry, {"items": {"item-002": None}, "latency_ms": None})
    assert entry == {}
    knobs = {"*": {"down": True, "items": {"item-004": True}}, "loc-001": {"down": False, "items": {"item-001": False}}}
    own = knobs_mod.effective(knobs, "loc-001")
    assert own["down"] is False and own["items"] == {"item-004": True, "item-001": False}
    assert knobs_mod.effective(knobs, "loc-002")["down"] is True
    assert knobs_mod.effective({}, "loc-002") == knobs_mod.DEFAULTS


def test_seed_locations():
    assert set(SEED["locations"]) == {"loc-001", "loc-002", "loc-003"}
    assert [SEED["locations"][loc]["accepting_orders"] for loc in sorted(SEED["locations"])] == [True, True, False]
    copy = default_seed()
    copy["locations"]["loc-001"]["items"].clear()
    assert SEED["locations"]["loc-001"]["items"]
