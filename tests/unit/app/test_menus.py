"""The menu cache: a miss asks the POS, a hit does not, a stale menu beats no menu."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.menus import LOCATIONS_KEY, UNKNOWN_SECONDS, MenuCache, MenuUnavailable
from tests.support.helpers import Clock

NOW = 1_795_456_800.0


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def cache(redis_client, pos, clock):
    return MenuCache(redis_client, pos, 300, clock)


def test_a_miss_fetches_from_the_pos_and_caches(cache, pos, redis_client):
    entry = cache.get("loc-001")
    assert pos.calls == [("menu", "loc-001")]
    assert entry["location"]["tax_rate"] == "0.0825"
    assert entry["items"]["item-001"]["price"] == 899
    assert entry["fetched_at"] == NOW
    assert redis_client.exists("menu:loc-001")
    assert redis_client.ttl("menu:loc-001") == -1  # no expiry: the last menu outlives a POS outage
    assert cache.locations() == ["loc-001"]


def test_a_cached_menu_is_served_without_calling_the_pos(cache, pos, clock):
    first = cache.get("loc-001")
    pos.calls.clear()
    clock.advance(599)
    assert cache.get("loc-001") == first
    assert pos.calls == []


def test_a_stale_menu_is_served_as_it_is_and_left_to_beat_s_refresh(cache, pos, clock):
    """No POS call on the request path for a menu that is merely old (issue 10, finding 8)."""
    cache.get("loc-001")
    clock.advance(601)
    pos.calls.clear()
    entry = cache.get("loc-001")
    assert entry["fetched_at"] == NOW and cache.public(entry)["stale"] is True
    assert pos.calls == []


def test_a_missing_menu_is_fetched_within_the_time_given(cache, pos):
    cache.get("loc-001", timeout=0.25)
    assert pos.timeouts == [0.25]
    with pytest.raises(MenuUnavailable):
        cache.get("loc-002", timeout=0.0)  # no time left: no call at all
    assert pos.calls == [("menu", "loc-001")]


def test_pos_down_with_a_cached_menu_serves_it_stale_with_its_age(cache, pos, clock):
    cache.get("loc-001")
    clock.advance(1000)
    pos.down = True
    entry = cache.get("loc-001")
    assert entry["fetched_at"] == NOW
    shown = cache.public(entry)
    assert shown["stale"] is True
    assert shown["age_seconds"] == 1000.0
    assert cache.refresh("loc-001")["fetched_at"] == NOW


def test_pos_down_and_nothing_cached_is_menu_unavailable(cache, pos, redis_client):
    pos.down = True
    with pytest.raises(MenuUnavailable):
        cache.get("loc-001")
    assert not redis_client.exists("menu:loc-001")


def test_an_unknown_location_is_remembered_for_a_minute(cache, pos, redis_client):
    entry = cache.get("loc-999")
    assert entry["unknown"] is True
    assert 0 < redis_client.ttl("menu:loc-999") <= UNKNOWN_SECONDS
    assert not redis_client.sismember(LOCATIONS_KEY, "loc-999")
    pos.calls.clear()
    assert cache.get("loc-999")["unknown"] is True
    assert pos.calls == []


def test_pos_down_does_not_turn_an_unknown_location_into_a_menu(cache, pos):
    cache.get("loc-999")
    pos.down = True
    with pytest.raises(MenuUnavailable):
        cache.refresh("loc-999")


def test_a_location_that_disappears_leaves_the_refresh_list(cache, pos, redis_client, monkeypatch):
    cache.get("loc-001")
    cache.get("loc-002")
    monkeypatch.setattr("tests.support.fakes.SEED", {"locations": {"loc-002": pos_seed("loc-002")}})
    assert cache.refresh_all() == {"loc-001": "unknown", "loc-002": "ok"}
    assert cache.locations() == ["loc-002"]


def pos_seed(location_id):
    from possim.seed import SEED

    return SEED["locations"][location_id]


def test_refresh_all_reports_each_location(cache, pos, clock):
    cache.get("loc-001")
    cache.get("loc-003")
    clock.advance(30)
    assert cache.refresh_all() == {"loc-001": "ok", "loc-003": "ok"}
    assert cache.cached("loc-001")["fetched_at"] == NOW + 30
    pos.down = True
    assert cache.refresh_all() == {"loc-001": "unavailable", "loc-003": "unavailable"}  # the truth
    assert cache.cached("loc-001")["fetched_at"] == NOW + 30  # the cached menu is kept


def test_the_public_menu_shows_money_in_major_units(cache, clock):
    entry = cache.get("loc-001")
    clock.advance(12.5)
    shown = cache.public(entry)
    prices = {item["id"]: item["price"] for item in shown["items"]}
    assert prices["item-001"] == Decimal("8.99") and prices["mod-002"] == Decimal("0.00")
    assert shown["fetched_at"] == "2026-11-23T18:00:00.000Z"
    assert (shown["age_seconds"], shown["stale"]) == (12.5, False)
    assert shown["location"]["accepting_orders"] is True
    assert entry["items"]["item-001"]["price"] == 899  # the cached entry is untouched
