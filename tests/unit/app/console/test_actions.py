"""Redrive and replay from the console: a confirmation page first, then the POST (with its CSRF
token) does what the CLI does, recorded as by console:<user>, and its outcome is shown on the
order's page; what is refused says why and does nothing."""

from __future__ import annotations

from app.orders.lifecycle import Move
from tests.support.console import USER, given_up, order_with


def test_redrive_asks_first_then_hands_the_order_to_a_worker(browser, services, tasks):
    order_with(services, "ord-1")
    confirm = browser.get("/orders/ord-1/redrive")
    assert confirm.status_code == 200 and "Re-drive ord-1?" in confirm.text and f"console:{USER}" in confirm.text
    assert tasks.sent == []  # the GET did nothing
    done = browser.confirm("/orders/ord-1/redrive")
    assert done.status_code == 302 and done.headers["Location"].endswith("/orders/ord-1")
    assert tasks.sent == [("place_order", "ord-1")]
    assert services.store.history("ord-1")[-1] | {"at": 0} == {
        "at": 0,
        "status": "pending",
        "by": f"console:{USER}",
        "note": "re-driven",
    }
    page = browser.get("/orders/ord-1").text
    assert 'class="flash ok"' in page and f"re-driven by console:{USER}" in page


def test_redrive_of_a_final_order_is_refused_and_says_so(browser, services, tasks):
    order_with(services, "ord-1", status="placed")
    done = browser.confirm("/orders/ord-1/redrive")
    assert done.status_code == 302 and tasks.sent == []
    page = browser.get("/orders/ord-1").text
    assert 'class="flash failed"' in page and "not re-driven: the order is already placed" in page
    assert 'id="action-redrive"' not in page  # the page offers it no more


def test_redrive_while_a_move_is_in_flight_starts_nothing(browser, services, tasks):
    order_with(services, "ord-1")
    assert services.store.claim(Move.ORDER, "ord-1", 30).ok
    browser.confirm("/orders/ord-1/redrive")
    assert tasks.sent == []
    assert "not re-driven: busy (a move is in flight)" in browser.get("/orders/ord-1").text


def test_replay_sends_the_callback_again_as_the_users(browser, services, tasks):
    order_with(services, "ord-1", status="placed", callback_url="http://127.0.0.1:1/cb")
    given_up(services, "ord-1", "HTTP 500")
    assert 'id="action-replay"' in browser.get("/orders/ord-1").text
    confirm = browser.get("/orders/ord-1/replay").text
    assert "Replay callback ord-1?" in confirm
    browser.confirm("/orders/ord-1/replay")
    assert tasks.sent == [("deliver_callback", "ord-1")]
    order = services.store.get("ord-1")
    assert order.callback_by == f"console:{USER}" and order.callback == "owed"
    assert services.store.history("ord-1")[-1]["by"] == f"console:{USER}"
    page = browser.get("/orders/ord-1").text
    assert f"callback replay queued by console:{USER}" in page and f"replayed by</dt><dd>console:{USER}" in page
    assert "ord-1" not in browser.get("/lists/dead-callbacks").text


def test_replay_of_an_open_order_or_one_without_a_callback_is_refused(browser, services, tasks):
    order_with(services, "ord-open", callback_url="http://127.0.0.1:1/cb")
    order_with(services, "ord-none", status="placed")
    browser.confirm("/orders/ord-open/replay")
    assert "not replayed: the order is not final yet" in browser.get("/orders/ord-open").text
    browser.confirm("/orders/ord-none/replay")
    assert "not replayed: the order has no callback_url" in browser.get("/orders/ord-none").text
    assert tasks.sent == []


def test_unknown_actions_and_orders_are_404(browser, services):
    order_with(services, "ord-1")
    assert browser.get("/orders/ord-1/cancel").status_code == 404  # not built yet: no route does it
    assert browser.get("/orders/ord-none/redrive").status_code == 404
