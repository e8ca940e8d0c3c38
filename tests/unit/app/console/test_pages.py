"""Each console page with the login: find, the order's record and timeline, the lists, recent
by location and status; failures shown as failures; unknown ids answered 400/404."""

from __future__ import annotations

import time

from app.orders.lifecycle import Move
from app.orders.store import FOUND_KEY
from tests.support.console import given_up, order_with


def test_the_front_page_counts_each_list(browser, services):
    order_with(services, "ord-open")
    order_with(services, "ord-dead", status="placed", callback_url="http://127.0.0.1:1/cb")
    given_up(services, "ord-dead", "HTTP 500")
    page = browser.get("/").text
    assert 'id="count-open">1<' in page and 'id="count-dead-callbacks">1<' in page
    assert 'id="count-reconcile">0<' in page


def test_find_goes_to_the_order_or_says_there_is_none(browser, services):
    order_with(services, "ord-1")
    found = browser.get("/find?uid=ord-1")
    assert found.status_code == 302 and found.headers["Location"].endswith("/orders/ord-1")
    missing = browser.get("/find?uid=ord-none")
    assert missing.status_code == 404 and "no order &#39;ord-none&#39;" in missing.text
    assert browser.get("/find?uid=a:b").status_code == 400
    assert browser.get("/orders/ord-none").status_code == 404


def test_an_order_page_shows_its_record_timeline_and_who(browser, services):
    order_with(services, "ord-1", callback_url="http://127.0.0.1:1/cb")
    services.store.redrive("ord-1", "console:alice")
    page = browser.get("/orders/ord-1").text
    assert '<span id="order-uid">ord-1</span>' in page and 'class="status pending"' in page
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert timeline.count("<li") == 2 and "received" in timeline and "re-driven" in timeline
    assert '<li class="action">' in timeline and "console:alice" in timeline  # who re-drove it
    assert '"callback_url": "http://127.0.0.1:1/cb"' in page  # the record
    assert 'id="action-redrive"' in page and 'id="action-replay"' not in page  # open: no replay yet
    assert "s ago" in page.split('id="order-claim"')[1].split("<")[0]  # the web's claim, lapsed


def test_the_claim_holder_is_shown_while_a_move_is_in_flight(browser, services):
    order_with(services, "ord-1")
    claim = services.store.claim(Move.ORDER, "ord-1", 30)
    assert claim.ok
    page = browser.get("/orders/ord-1").text
    assert f"held by {claim.token[:8]} until" in page and "lapses in" in page


def test_a_rejected_order_is_shown_in_red_with_its_error_codes(browser, services):
    order_with(
        services, "ord-bad", status="rejected", errors=[{"code": "item_unavailable", "message": "item 42 is sold out"}]
    )
    page = browser.get("/orders/ord-bad").text
    assert 'class="status rejected"' in page
    assert '<div class="errors" id="order-errors">' in page and "<code>item_unavailable</code>" in page
    assert 'class="pos failed"' in page  # the POS's refusal, marked as a failed POS call
    listed = browser.get("/recent?status=rejected").text
    assert "ord-bad" in listed and "<code>item_unavailable</code>" in listed and '<tr class="rejected">' in listed


def test_the_lists(browser, services):
    order_with(services, "ord-open")
    order_with(services, "ord-found", status="errored", errors=[{"code": "pos_outcome_unknown", "message": "?"}])
    services.redis.zadd(FOUND_KEY, {"ord-found": time.time()})
    services.redis.hset("order:ord-found", "rc_pos_order_id", "POS-77")
    order_with(services, "ord-dead", status="placed", callback_url="http://127.0.0.1:1/cb")
    given_up(services, "ord-dead", "HTTP 503 from PAR")
    open_page = browser.get("/lists/open").text
    assert "ord-open" in open_page and "ord-dead" not in open_page
    reconcile = browser.get("/lists/reconcile").text
    assert "ord-found" in reconcile and "PLACED AT THE POS as POS-77" in reconcile
    dead = browser.get("/lists/dead-callbacks").text
    assert "ord-dead" in dead and "last: HTTP 503 from PAR" in dead and "ord-open" not in dead
    assert browser.get("/lists/nothing").status_code == 404


def test_stuck_lists_an_open_order_whose_move_is_overdue(browser, services, settings):
    order_with(services, "ord-late")
    order_with(services, "ord-fresh")
    overdue = (time.time() - settings.dispatch_grace - 5) * 1000
    services.redis.zadd("schedule", {"o:ord-late": overdue})
    page = browser.get("/lists/stuck").text
    assert "ord-late" in page and "ord-fresh" not in page


def test_recent_by_location_and_status(browser, services):
    order_with(services, "a-open", location="loc-001")
    order_with(services, "a-placed", location="loc-001", status="placed")
    order_with(services, "b-placed", location="loc-002", status="placed")
    by_location = browser.get("/recent?location=loc-001").text
    assert "a-open" in by_location and "a-placed" in by_location and "b-placed" not in by_location
    both = browser.get("/recent?location=loc-001&status=placed").text
    assert "a-placed" in both and "a-open" not in both and "b-placed" not in both
    by_status = browser.get("/recent?status=placed").text
    assert "a-placed" in by_status and "b-placed" in by_status and "a-open" not in by_status
    assert browser.get("/recent?status=lost").status_code == 400
    assert browser.get("/recent?location=a:b").status_code == 400
    assert browser.get("/recent?minutes=soon").status_code == 400


def test_what_an_order_carries_is_escaped(browser, services):
    order_with(services, "ord-x", location="<b>loc</b>", order_details={"note": "<script>alert(1)</script>"})
    services.store.note("ord-x", "worker", "POS attempt: <i>HTTP 503</i>")
    for page in (browser.get("/orders/ord-x").text, browser.get("/lists/open").text):
        assert "<b>" not in page and "<script>" not in page and "<i>" not in page
    assert "&lt;i&gt;HTTP 503&lt;/i&gt;" in browser.get("/orders/ord-x").text


def test_a_full_list_says_it_shows_only_the_first(browser, services, monkeypatch):
    from app.console import queries

    monkeypatch.setattr(queries, "LIMIT", 2)
    for n in range(3):
        order_with(services, f"ord-{n}")
    page = browser.get("/lists/open").text
    assert page.count('<tr class="pending">') == 2 and "2 order(s) (the first 2: the CLI lists more)" in page


def test_redis_or_broker_trouble_is_a_503_that_says_so(browser, services, monkeypatch):
    import redis
    from kombu.exceptions import OperationalError

    order_with(services, "ord-1")

    def down(*_args, **_kwargs):
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(services.store.indexes, "open_count", down)
    page = browser.get("/")
    assert page.status_code == 503 and "Redis does not answer: TimeoutError: Timeout reading from socket" in page.text

    def broker_down(*_args, **_kwargs):
        raise OperationalError("Error 111 connecting")

    monkeypatch.setattr(services.service, "redrive", broker_down)
    answer = browser.confirm("/orders/ord-1/redrive")
    assert answer.status_code == 503 and "the broker does not answer: OperationalError" in answer.text
