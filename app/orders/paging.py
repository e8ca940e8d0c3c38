"""The recovery list's paging over an index zset (`orders:loc:{location_id}`: request_uid ->
created, Unix seconds as a float), strictly forward in (score, member) order.

Redis orders a zset by score, then by member bytes; a position is the last (score, member)
visited, so the next page starts right after it however many members share its score: paging
with any limit >= 1 visits every member exactly once. The position travels as an opaque cursor.

With an archive (app/archive/), the list is the union of the Redis index and the archive's rows of
the location, in the same (created, request_uid) order (`across`): an order in both places (a
move under way) is one position, listed once. Redis is read first: an order the mover removed
from Redis was committed to the archive before, so the archive, read after, has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from app.archive.db import Archive

import base64
import binascii
import json
import math
from dataclasses import dataclass

from app.redis_client import reply_scored as scored
from schemas.fields import is_key

CURSOR_PREFIX = "c1."


@dataclass(frozen=True)
class Position:
    score: float
    member: str


def encode_cursor(position: Position) -> str:
    raw = json.dumps([repr(position.score), position.member], separators=(",", ":")).encode()
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Position:
    """The position a cursor names; ValueError for anything this module did not make."""
    if not isinstance(text, str) or not text.startswith(CURSOR_PREFIX) or len(text) > 512:
        raise ValueError("not a cursor")
    body = text[len(CURSOR_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        score_text, member = json.loads(raw)
        score = float(score_text)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("not a cursor") from None
    if not math.isfinite(score) or not is_key(member):
        raise ValueError("not a cursor")
    return Position(score, member)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _offset_after(redis: Redis, key: str, after: Position) -> int:
    """How many members with the score `after.score` come at or before `after.member`."""
    pipe = redis.pipeline(transaction=True)
    pipe.zscore(key, after.member)
    pipe.zrank(key, after.member)
    pipe.zcount(key, "-inf", f"({after.score!r}")
    score, rank, below = pipe.execute()
    if score is not None and rank is not None and float(score) == after.score:
        return int(rank) - int(below) + 1
    # the member is gone (retention): count the ties that sort at or before it
    ties = redis.zrangebyscore(key, repr(after.score), repr(after.score))
    member = after.member.encode()
    return sum(1 for tie in ties if (tie if isinstance(tie, bytes) else str(tie).encode()) <= member)


def members(
    redis: Redis, key: str, count: int, since: float | None = None, after: Position | None = None
) -> list[Position]:
    """Up to `count` members after `after` (else from `since`, inclusive; else from the start)."""
    if after is not None:
        offset = _offset_after(redis, key, after)
        rows = redis.zrangebyscore(key, repr(after.score), "+inf", start=offset, num=count, withscores=True)
    else:
        low = repr(since) if since is not None else "-inf"
        rows = redis.zrangebyscore(key, low, "+inf", start=0, num=count, withscores=True)
    return [Position(score, member) for member, score in scored(rows)]


def across(
    redis: Redis,
    key: str,
    *,
    archive: Archive | None,
    location: str,
    count: int,
    since: float | None = None,
    after: Position | None = None,
    status: str | None = None,
) -> list[Position]:
    """Up to `count` positions after `after` (else from `since`) in Redis's index `key` and in
    the archive's rows of `location` (in `status`, when `key` is that status's index) together,
    each once. Each source gives its first `count`, so the first `count` of their union are the
    union's first `count`."""
    found = members(redis, key, count, since=since, after=after)
    if archive is None:
        return found
    rows = archive.page(
        location, count, since=since, after=(after.score, after.member) if after else None, status=status
    )
    union = set(found) | {Position(score, member) for score, member in rows}
    return sorted(union, key=lambda p: (p.score, p.member.encode()))[:count]
