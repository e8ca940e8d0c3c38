"""The in-process menu cache: an entry decoded once per version, never one older than Redis's.

The version is the SHA-1 of the entry's JSON, written in front of it by the writer (or computed
by Redis for an entry without it) and read by the script that reads the entry (app/menus.py READ,
and scripts.CREATE for submit): the bytes travel only when they changed.
"""

from __future__ import annotations

import hashlib
import threading

import pytest

from app import jsonio, menus
from app.menus import Answered, MenuCache, MenuUnavailable, menu_key
from app.orders.store import OrderStore
from tests.support.factories import create_order
from tests.support.helpers import Clock

NOW = 1_795_456_800.0
MENU = {"location_id": "loc-001", "location": {"tax_rate": "0.0825"}, "items": {"a": {"price": 100}}, "fetched_at": NOW}


@pytest.fixture
def cache(redis_client, pos):
    return MenuCache(redis_client, pos, 300, Clock(NOW))


@pytest.fixture
def decodes(cache, monkeypatch):
    """How many times the cache decoded an entry's bytes."""
    count = []
    original = cache._decode
    monkeypatch.setattr(cache, "_decode", lambda raw: count.append(1) or original(raw))
    return count


def put(redis_client, entry: dict) -> bytes:
    raw = jsonio.dumps(entry).encode()
    redis_client.set(menu_key(entry["location_id"]), raw)
    return raw


def test_the_version_is_the_sha1_of_the_bytes_in_redis(cache, redis_client):
    raw = put(redis_client, MENU)  # as an earlier release wrote it: no version in front
    cache.read("loc-001")
    assert cache.held("loc-001").version == hashlib.sha1(raw).hexdigest()  # noqa: S324


def test_the_writer_puts_the_version_in_front_and_redis_reads_it_without_hashing(cache, redis_client):
    written = MenuCache.encode(MENU)
    data = jsonio.dumps(MENU).encode()
    assert written == b"v1:" + hashlib.sha1(data).hexdigest().encode() + b"\n" + data  # noqa: S324
    redis_client.set(menu_key("loc-001"), b"v1:" + b"f" * 40 + b"\n" + data)  # the prefix is what is read
    _, read = cache.read("loc-001")
    assert read.entry == MENU and cache.held("loc-001").version == "f" * 40
    store = OrderStore(redis_client, clock=Clock(NOW))
    created, _ = create_order(
        store, "u-prefix", "fp", {"location_id": "loc-001"}, None, 900, "web", 5.0, menu_key("loc-001"), "f" * 40
    )
    assert created.menu_version == "f" * 40 and created.menu is None


def test_an_entry_is_decoded_once_while_its_version_holds(cache, redis_client, decodes, pos):
    put(redis_client, MENU)
    _, first = cache.read("loc-001")
    _, second = cache.read("loc-001")
    assert first.entry == MENU and second.entry is first.entry
    assert cache.get("loc-001") is first.entry
    assert len(decodes) == 1 and pos.calls == []


def test_a_new_entry_in_redis_is_used_at_the_next_read(cache, redis_client, decodes):
    put(redis_client, MENU)
    cache.read("loc-001")
    newer = dict(MENU, items={"a": {"price": 250}}, fetched_at=NOW + 300)
    put(redis_client, newer)
    assert cache.read("loc-001")[1].entry == newer
    assert cache.get("loc-001") == newer
    assert len(decodes) == 2


def test_an_entry_rewritten_with_the_same_bytes_keeps_its_version(cache, redis_client, decodes):
    put(redis_client, MENU)
    cache.read("loc-001")
    put(redis_client, MENU)
    assert cache.read("loc-001")[1].entry == MENU and len(decodes) == 1


def test_an_entry_gone_from_redis_is_not_served_from_the_process(cache, redis_client, pos):
    put(redis_client, MENU)
    cache.read("loc-001")
    redis_client.delete(menu_key("loc-001"))
    assert cache.read("loc-001")[1].entry is None
    assert cache.held("loc-001") is None
    pos.down = True
    with pytest.raises(MenuUnavailable):
        cache.get("loc-001", timeout=1)  # fetched, as any missing menu: never the one held before


def test_an_unreadable_entry_is_fetched_again_and_not_held(cache, redis_client, pos):
    redis_client.set(menu_key("loc-001"), b"{not json")
    assert cache.read("loc-001")[1].entry is None and cache.held("loc-001") is None
    assert cache.get("loc-001")["location"]["tax_rate"] == "0.0825" and pos.calls == [("menu", "loc-001")]


def test_a_reader_holding_an_older_version_gets_the_bytes(cache, redis_client):
    put(redis_client, MENU)
    cache.read("loc-001")
    held = cache.held("loc-001")
    newer = put(redis_client, dict(MENU, fetched_at=NOW + 1))
    reply = cache._read(keys=[menu_key("loc-001")], args=["", held.version])
    assert reply[1].decode() != held.version and reply[2] == newer
    assert cache._read(keys=[menu_key("loc-001")], args=["", reply[1].decode()])[2] is None


def test_a_version_answered_for_another_holder_is_still_its_own_entry(cache, redis_client):
    """Two requests of one process: the first sent version A; meanwhile the second took version B.
    The first is answered "A holds" and uses A's entry, the one it sent the version of."""
    put(redis_client, MENU)
    cache.read("loc-001")
    held_a = cache.held("loc-001")
    put(redis_client, dict(MENU, fetched_at=NOW + 1))
    cache.read("loc-001")
    assert cache.accept("loc-001", held_a, held_a.version, None).entry is held_a.entry


def test_the_read_carries_redis_s_time(cache, redis_client):
    now, read = cache.read("loc-001", str(int(NOW * 1000)))
    assert now == NOW and read.entry is None
    seconds, micros = redis_client.time()
    assert abs(cache.read("loc-001")[0] - (seconds + micros / 1e6)) < 5


def test_what_a_process_holds_is_bounded_by_bytes_least_recently_used_first(cache, redis_client, monkeypatch):
    size = len(put(redis_client, dict(MENU, location_id="loc-size")))
    monkeypatch.setattr(menus, "HELD_BYTES", 3 * size + 10)
    for index in range(3):
        put(redis_client, dict(MENU, location_id=f"loc-{index}"))
        cache.read(f"loc-{index}")
    cache.read("loc-0")  # used again: loc-1 is now the least recently used
    put(redis_client, dict(MENU, location_id="loc-3"))
    cache.read("loc-3")
    assert sorted(cache._held) == ["loc-0", "loc-2", "loc-3"] and cache._held_bytes <= menus.HELD_BYTES
    monkeypatch.setattr(menus, "HELD_ONE", size - 20)  # too large to hold: decoded, never held
    put(redis_client, dict(MENU, location_id="loc-big"))
    assert cache.read("loc-big")[1].entry is not None and cache.held("loc-big") is None


def test_threads_filling_and_evicting_at_once_never_fail(cache, redis_client, monkeypatch):
    """The review's race: two threads at capacity popping the same oldest entry (gthread)."""
    raws = {f"loc-{n}": jsonio.dumps(dict(MENU, location_id=f"loc-{n}")).encode() for n in range(200)}
    monkeypatch.setattr(menus, "HELD_BYTES", 20 * len(raws["loc-0"]))
    errors: list[Exception] = []

    def fill():
        try:
            for _ in range(5):
                for location, raw in raws.items():
                    cache.accept(location, None, location, raw)
        except Exception as exc:  # the test counts them
            errors.append(exc)

    threads = [threading.Thread(target=fill) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and cache._held_bytes == sum(h.size for h in cache._held.values()) <= menus.HELD_BYTES


def test_create_sends_the_bytes_only_when_the_version_differs(redis_client):
    store = OrderStore(redis_client, clock=Clock(NOW))
    raw = put(redis_client, MENU)
    version = hashlib.sha1(raw).hexdigest()  # noqa: S324
    doc = {"request_uid": "u1", "location_id": "loc-001"}
    first, _ = create_order(store, "u1", "fp", doc, None, 900, "web", 3.0, menu_key("loc-001"))
    assert (first.menu, first.menu_version) == (raw, version)
    again, _ = create_order(
        store, "u2", "fp", dict(doc, request_uid="u2"), None, 900, "web", 3.0, menu_key("loc-001"), version
    )
    assert (again.menu, again.menu_version) == (None, version)
    stale, _ = create_order(
        store, "u3", "fp", dict(doc, request_uid="u3"), None, 900, "web", 3.0, menu_key("loc-001"), "0" * 40
    )
    assert (stale.menu, stale.menu_version) == (raw, version)
    none, _ = create_order(store, "u4", "fp", dict(doc, request_uid="u4"), None, 900, "web", 3.0, menu_key("loc-002"))
    assert (none.menu, none.menu_version) == (None, "")


def test_a_scripts_answer_of_the_held_version_is_the_held_entry_never_decoded_again(cache, redis_client):
    """submit hands CREATE's read of the menu to MenuCache.get as Answered (its version, no bytes:
    this process holds that version)."""
    put(redis_client, MENU)
    cache.read("loc-001")
    held = cache.held("loc-001")
    assert cache.get("loc-001", Answered(held, held.version, None)) is held.entry


def test_a_scripts_answer_with_bytes_is_decoded_and_held(cache, redis_client):
    raw = put(redis_client, MENU)
    version = cache._read(keys=[menu_key("loc-001")], args=["", ""])[1].decode()
    entry = cache.get("loc-001", Answered(None, version, raw))
    assert entry["location"] == MENU["location"] and cache.held("loc-001").version == version


def test_a_scripts_answer_of_no_menu_is_fetched_from_the_pos(cache, pos):
    assert cache.get("loc-001", Answered(None, "", None))["location"]["tax_rate"] == "0.0825"
    assert pos.calls == [("menu", "loc-001")]
