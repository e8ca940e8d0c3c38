"""POS_ADAPTER=square end to end: the real processes (gunicorn, worker, beat) place PAR's order
through the Square adapter at the simulator's Square routes, and a POS without `not_after` that
creates an order after its deadline is found by the search window and canceled by the engine."""

from __future__ import annotations

import pytest

from tests.support.factories import sample_order
from tests.support.live import Live, wait_until


@pytest.fixture(scope="module")
def square_live(tmp_path_factory):
    stack = Live(str(tmp_path_factory.mktemp("square")), POS_ADAPTER="square")
    try:
        stack.start()
    except Exception:
        for label in stack.stack.processes:
            print(f"--- {label}\n{stack.stack.log(label)[-3000:]}")
        stack.stop()
        raise
    stack.reset_pos()
    yield stack
    stack.stop()


def square_orders(live: Live, uid: str) -> list[dict]:
    """The orders Square's SearchOrders shows for this request_uid."""
    answer = live.pos.post(
        f"{live.pos_url}/v2/orders/search",
        timeout=5,
        json={"location_ids": ["loc-001"], "query": {"sort": {"sort_field": "CREATED_AT", "sort_order": "DESC"}}},
    )
    answer.raise_for_status()
    return [o for o in answer.json()["orders"] if o["reference_id"] == uid]


def test_an_order_is_placed_at_square_end_to_end(square_live):
    order = sample_order()
    uid = order["request_uid"]
    response = square_live.submit(order)
    assert response.status_code == 200, response.text
    placed = response.json()
    assert placed["status"] == "placed"
    [made] = square_orders(square_live, uid)
    assert made["id"] == placed["order_details"]["pos_order_id"] and made["state"] == "OPEN"
    assert made["metadata"]["request_uid"] == uid
    assert made["line_items"][0]["modifiers"][0]["catalog_object_id"] == "mod-001"
    assert square_live.pos_stats()["post_orders"] == {"200": 1}  # Square's CreateOrder, once
    assert square_live.submit(order).json()["status"] == "placed"  # PAR's retry: nothing new at Square
    assert len(square_live.ledger(uid)) == 1


def test_an_order_square_creates_after_its_deadline_is_canceled(square_live):
    square_live.knobs("*", latency_ms=4500)  # Square creates it 4.5 s on: past the 2 s ttl
    try:
        order = sample_order(ttl=2)
        uid = order["request_uid"]
        assert square_live.submit(order).status_code == 202
        final = square_live.wait_final(uid, timeout=60)
        assert final["status"] == "errored", final
        # the lookups after the deadline find it by the search window and cancel it
        made = wait_until(
            lambda: [o for o in square_orders(square_live, uid) if o["state"] == "CANCELED"],
            timeout=40,
            message="the late Square order canceled",
        )
        assert len(made) == 1 and len(square_live.ledger(uid)) == 1
    finally:
        square_live.knobs("*", latency_ms=None)


def test_a_cancel_while_square_makes_the_order_ends_with_it_canceled(square_live):
    """Square cannot close a key: the order a POST in flight makes after the cancel was decided
    is found by the cancelled order's watch and canceled (posnext-api.md, Cancel; pos-api.md:
    void by POS order id)."""
    from tests.support.engine_faults import epoch, first_post_seen, submit_in_background

    square_live.knobs("*", latency_ms=2500)  # Square makes it 2.5 s on: after the cancel
    try:
        order = sample_order()
        uid = order["request_uid"]
        thread, answers = submit_in_background(square_live, order)
        first_post_seen(square_live, uid)
        thread.join(10)
        assert answers[0].status_code == 202, answers[0].text
        cancel = square_live.http.post(
            f"{square_live.base_url}/posnext/orders/{uid}/cancel",
            timeout=30,
            headers={"Authorization": f"Bearer {square_live.token}"},
        )
        assert cancel.status_code in (200, 202), cancel.text
        final = square_live.wait_final(uid, timeout=30)
        assert final["status"] == "cancelled"
        made = wait_until(lambda: square_live.ledger(uid), timeout=20, message="Square making the order")
        assert len(made) == 1 and epoch(made[0]["created_at"]) > epoch(final["completed_at"])  # after the cancel
        wait_until(
            lambda: [o for o in square_orders(square_live, uid) if o["state"] == "CANCELED"],
            timeout=40,
            message="the order made after the cancel canceled",
        )
        assert square_live.get_order(uid).json()["status"] == "cancelled"
    finally:
        square_live.knobs("*", latency_ms=None)
