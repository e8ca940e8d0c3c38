"""app/archive/db.py's engine: what it asks of libpq."""

from __future__ import annotations

import psycopg
import pytest

from app.archive import Archive, ArchiveUnavailable


def test_a_postgresql_archive_bounds_a_server_gone_silent(monkeypatch):
    # Regression (issue 21, the cluster run): with only connect_timeout and a server-side
    # statement_timeout, a pooled connection to a PostgreSQL whose host was cut off (no refusal,
    # no reset) held the call until the link came back (12.9 s for a 12 s cut; minutes if it never
    # does), so a submit's archive lookup hung instead of answering 503. The client now ends it:
    # bytes unacknowledged for the timeout, or keepalives unanswered, drop the connection.
    # tests/integration/test_archive_partition.py cuts a real one off.
    asked: list[dict] = []

    def connect(*args, **kwargs):
        asked.append(kwargs)
        raise psycopg.OperationalError("refused")

    monkeypatch.setattr(psycopg, "connect", connect)
    with pytest.raises(ArchiveUnavailable):
        Archive("postgresql://postgres@127.0.0.1:1/db", timeout=2.0).get("u-1")
    assert asked and asked[0]["tcp_user_timeout"] == 2000 and asked[0]["connect_timeout"] == 2
    assert (
        asked[0]["keepalives"] == 1
        and asked[0]["keepalives_idle"] * 1 + asked[0]["keepalives_interval"] * asked[0]["keepalives_count"] <= 4
    )
