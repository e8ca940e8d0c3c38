"""The slice end to end: a signed submit through gunicorn reaches the simulator once."""

from tests.support.factories import sample_order


def test_fast_pos_gives_200_placed_with_one_pos_order(fresh):
    order = sample_order()
    response = fresh.submit(order)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "placed"
    assert body["order_details"]["pos_order_id"].startswith("P-")
    assert len(fresh.ledger(order["request_uid"])) == 1


def test_slow_pos_gives_202_then_polling_reaches_placed(fresh):
    fresh.knobs("*", latency_ms=1500)
    order = sample_order()
    response = fresh.submit(order)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/posnext/orders/{order['request_uid']}"
    assert response.headers["Retry-After"]
    final = fresh.wait_final(order["request_uid"])
    assert final["status"] == "placed"
    assert len(fresh.ledger(order["request_uid"])) == 1
