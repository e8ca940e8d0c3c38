"""Regressions the reliability harness found (docs/RELIABILITY.md): past its deadline an order
whose last POST had an unknown outcome is never errored while the POS may still hold it.

1. The POS was down when the deadline passed: the order was errored although an earlier POST
   had created it (ledger: a POS order for an errored order).
2. A POST timed out at the deadline, the lookup right after found nothing, the order was
   errored, and the POS then finished the call and created the order.
3. Past the deadline the backoff was 0 and the sweep re-drove such an order on every run.
"""

from __future__ import annotations

from app.orders import records
from app.orders.recovery import due_orders
from app.orders.store import fingerprint
from app.pos.base import Placed, Transient
from bin.sample import sample_order
from tests.unit.helpers import NOW


def timed_out_order(store, placement, pos, deadline=NOW + 10) -> str:
    """An order whose only POST timed out: the POS may or may not have it."""
    request = sample_order(uid="ord-1")
    store.create("ord-1", fingerprint(request), dict(records.new_record(request, NOW), validated=True),
                 deadline, "web", now=NOW)
    pos.outcomes.append(Transient("timeout"))
    assert placement.attempt("ord-1", "web").retry
    return "ord-1"


def test_past_the_deadline_an_order_the_pos_cannot_be_asked_about_is_placed_once_it_answers(
        placement, store, pos, clock):
    uid = timed_out_order(store, placement, pos)
    pos.placed[uid] = Placed("P-000042")  # the timed-out POST did create it
    pos.lookup_down = True
    clock.advance(30)
    assert placement.attempt(uid, "worker").retry
    pos.lookup_down = False
    assert placement.attempt(uid, "worker").status == "placed"
    assert store.get(uid).doc["order_details"]["pos_order_id"] == "P-000042"
    assert pos.count("place") == 1


def test_a_post_landing_after_the_deadline_is_found_not_errored(placement, store, pos, clock):
    uid = timed_out_order(store, placement, pos)
    clock.advance(10)  # the deadline: the POS has not finished the call yet
    step = placement.attempt(uid, "worker")
    assert (step.status, step.retry) == ("pending", True)
    pos.placed[uid] = Placed("P-000043")  # the call lands at the POS
    clock.advance(placement.settle_seconds - 0.1)
    assert placement.attempt(uid, "worker").status == "placed"
    assert pos.count("place") == 1


def test_errored_once_the_last_post_can_no_longer_land_and_the_pos_has_nothing(placement, store, pos, clock):
    uid = timed_out_order(store, placement, pos)
    clock.advance(10 + placement.settle_seconds)
    assert placement.attempt(uid, "worker").status == "errored"
    assert [e["code"] for e in store.get(uid).doc["errors"]] == ["deadline_exceeded"]
    assert pos.count("place") == 1


def test_an_order_never_sent_is_errored_at_the_deadline(placement, store, pos, clock):
    request = sample_order(uid="ord-2")
    store.create("ord-2", fingerprint(request), records.new_record(request, NOW), NOW + 5, "web", now=NOW)
    clock.advance(5)
    assert placement.attempt("ord-2", "worker").status == "errored"
    assert pos.count("place") == 0 and pos.count("lookup") == 0


def test_looking_up_past_the_deadline_backs_off(placement, settings):
    delays = [placement.backoff(4, NOW - 1) for _ in range(20)]
    assert all(settings.retry_base_seconds / 2 <= d <= settings.retry_cap_seconds for d in delays)


def test_the_sweep_leaves_an_order_looked_up_past_its_deadline_to_its_worker(placement, store, pos, clock):
    uid = timed_out_order(store, placement, pos)
    clock.advance(11)
    store.note(uid, "worker", "retry in 1s", next_at=clock() + 1)  # what advance() records
    assert due_orders(store, clock(), budget=0.3, grace=2) == []
    assert due_orders(store, clock() + 3.5, budget=0.3, grace=2) == [uid]  # its task was lost


def test_the_sweep_closes_an_order_nobody_moved_past_its_deadline(store, clock):
    request = sample_order(uid="ord-3")
    store.create("ord-3", fingerprint(request), records.new_record(request, NOW), NOW + 1, "web", now=NOW)
    assert due_orders(store, NOW + 1.5, budget=0.3, grace=30) == ["ord-3"]
