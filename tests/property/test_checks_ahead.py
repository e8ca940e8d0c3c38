"""A verdict made ahead (checks.OrderChecks.ahead) is the verdict at every time of its window.

Submit checks an order against the menu the process holds before recording it, and CREATE
records it validated when Redis's time falls inside the window the verdict is said to hold for.
Here: orders whose request_datetime, ttl and schedule sit anywhere around the estimate, near
every boundary the rules have; whenever a window is given, check_order at any time inside it
is ok.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from app.menus import Held
from app.orders import rules
from app.orders.checks import OrderChecks
from app.pos.rest import normalise_menu
from app.times import format_time
from bin.sample import sample_order
from schemas.orders import OrderRequestSchema
from tests.support.fakes import seeded_menu

NOW = 1_795_456_800.0
MAX_AGE = 300
HORIZON_DAYS = 7
MENU = dict(normalise_menu(*seeded_menu("loc-001")), fetched_at=NOW)
CHECKS = OrderChecks(None, SimpleNamespace(future_horizon_days=HORIZON_DAYS, request_max_age_seconds=MAX_AGE))
BASE = OrderRequestSchema().load(sample_order(uid="ord-ahead"))
# offsets (seconds) that land near the rules' boundaries: request age, 60 s ahead, ttl, 24 h, the horizon
EDGES = [0, 1, 2, 3, 60, 61, 62, MAX_AGE - 3, MAX_AGE - 1, MAX_AGE, MAX_AGE + 1, MAX_AGE + 3, 86400, 604800]
OFFSET = st.one_of(st.sampled_from(EDGES).flatmap(lambda e: st.floats(-e - 3, -e + 3) | st.floats(e - 3, e + 3)),
                   st.floats(-700_000, 700_000))


def order(sent: float, ttl: int | None, schedule: str, promised: float | None) -> dict:
    details = dict(BASE["order_details"], fulfillment={"mode": "pickup"})
    if promised is not None:
        details["fulfillment"] = {"mode": "pickup", "promised_at": format_time(NOW + promised)}
    return dict(BASE, request_datetime=format_time(NOW + sent), ttl=ttl, schedule_type=schedule,
                order_details=details)


@settings(max_examples=400, deadline=None)
@given(sent=OFFSET, ttl=st.none() | st.integers(1, 700), schedule=st.sampled_from(["current", "future"]),
       promised=st.none() | OFFSET, estimate=st.floats(-5, 5), inside=st.floats(0, 1))
def test_the_verdict_made_ahead_holds_across_its_window(sent, ttl, schedule, promised, estimate, inside):
    request = order(sent, ttl, schedule, promised)
    ahead = CHECKS.ahead(request, Held("v", MENU), NOW + estimate)
    if ahead is None:
        return
    verdict, lo_ms, hi_ms = ahead
    assert verdict.ok and lo_ms <= hi_ms
    for ms in (lo_ms, hi_ms, lo_ms + int((hi_ms - lo_ms) * inside)):
        at = datetime.fromtimestamp(ms / 1000, UTC)
        assert rules.check_order(request, MENU, at, timedelta(days=HORIZON_DAYS), max_age_seconds=MAX_AGE).ok


def test_a_plain_order_gets_a_window_around_the_estimate():
    verdict, lo_ms, hi_ms = CHECKS.ahead(order(-1, None, "current", None), Held("v", MENU), NOW)
    assert verdict.ok and lo_ms < NOW * 1000 < hi_ms


def test_an_order_refused_ahead_gets_no_window():
    assert CHECKS.ahead(order(-MAX_AGE - 10, None, "current", None), Held("v", MENU), NOW) is None
    assert CHECKS.ahead(order(-1, None, "current", None), Held("v", {"unknown": True}), NOW) is None
    assert CHECKS.ahead(order(-MAX_AGE + 1, None, "current", None), Held("v", MENU), NOW) is None  # the edge is near
