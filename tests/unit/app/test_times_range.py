"""Regression the reliability run's schemathesis found (docs/RELIABILITY.md): a request_datetime
at datetime's limits ("0001-01-01T00:00:00+01:00") overflowed in the shift to UTC and answered
500. Times outside the years 1970-9998 are refused as not parsing: 400 schema_invalid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.orders import rules
from app.times import parse_time


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59.999Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_times_at_the_limits_do_not_parse(text):
    assert parse_time(text) is None


def test_times_inside_the_range_parse():
    assert parse_time("1970-01-01T00:00:00Z") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("9998-12-31T23:59:59+01:00") == datetime(9998, 12, 31, 22, 59, 59, tzinfo=UTC)


@given(
    moment=st.datetimes(
        timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)))
    )
)
def test_any_zoned_time_parses_or_not_without_raising_and_a_week_can_be_added(moment):
    parsed = parse_time(moment.isoformat())
    if parsed is not None:
        assert parsed + timedelta(days=7) > parsed
        assert not rules.expired({"ttl": 7 * 24 * 3600}, parsed, parsed - timedelta(days=1))


@pytest.mark.parametrize("path", ["/posnext/order/validate", "/posnext/orders/submit"])
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_order_dated_at_the_limits_is_a_400_and_records_nothing(post, order, redis_client, path, when):
    body = order(request_type="validate-order" if "validate" in path else "place-order", request_datetime=when)
    response = post(path, body)
    assert response.status_code == 400, response.body
    assert response.body["status"] == "errored"
    assert {(e["code"], e.get("field")) for e in response.body["errors"]} == {("schema_invalid", "request_datetime")}
    assert redis_client.zcard("orders:by_time") == 0
