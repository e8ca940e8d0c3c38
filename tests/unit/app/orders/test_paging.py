"""The recovery list's paging: strictly forward in (score, member), opaque cursors."""

from __future__ import annotations

import pytest

from app.orders import paging

KEY = "orders:loc:loc-001"


def walk(redis_client, limit: int, since=None) -> list[str]:
    seen, after = [], None
    for _ in range(1000):
        rows = paging.members(redis_client, KEY, limit, since=since if after is None else None, after=after)
        seen += [row.member for row in rows]
        if len(rows) < limit:
            return seen
        after = paging.decode_cursor(paging.encode_cursor(rows[-1]))
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("limit", [1, 2, 5, 13, 100])
def test_every_member_once_however_many_share_a_score(redis_client, limit):
    members = {f"u-{i:03d}": 1_795_456_800.123 for i in range(40)}
    members.update({f"v-{i:03d}": 1_795_456_800.124 + i / 1e6 for i in range(10)})
    redis_client.zadd(KEY, members)
    assert walk(redis_client, limit) == sorted(members, key=lambda m: (members[m], m))
    assert walk(redis_client, limit, since=1_795_456_800.124) == [f"v-{i:03d}" for i in range(10)]


def test_a_cursor_whose_member_is_gone_still_moves_forward(redis_client):
    redis_client.zadd(KEY, {f"u-{i}": 5.0 for i in range(6)})
    first = paging.members(redis_client, KEY, 3)
    redis_client.zrem(KEY, first[-1].member)
    rest = paging.members(redis_client, KEY, 10, after=first[-1])
    assert [row.member for row in first + rest] == ["u-0", "u-1", "u-2", "u-3", "u-4", "u-5"]


@pytest.mark.parametrize(
    "text", ["", "c1.", "c1.!!!", "c2.abc", "c1.WyJpbmYiLCJ4Il0", "c1.WyIxLjAiLCJhOmIiXQ", "x" * 600]
)
def test_only_cursors_this_module_made_decode(text):
    with pytest.raises(ValueError):
        paging.decode_cursor(text)
