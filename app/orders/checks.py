"""An order against its location's cached menu: the rules of rules.py, with the menu read
within the time the caller has left. Validate, submit and the workers call this one check."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from app.menus import NOT_READ, Held, MenuCache, MenuUnavailable
from app.orders import rules

WINDOW_SECONDS = 2.0  # a verdict made ahead of the record holds for Redis times this far either side


def menu_unavailable(request: dict) -> dict:
    return {"code": "menu_unavailable",
            "message": f"no menu for {request.get('location_id')!r} is cached and the POS cannot be reached",
            "field": "location_id"}


class OrderChecks:
    def __init__(self, menus: MenuCache, settings):
        self.menus = menus
        self.horizon = timedelta(days=settings.future_horizon_days)
        self.max_age = settings.request_max_age_seconds

    def verdict(self, request: dict, now: float, raw=NOT_READ, timeout: float | None = None,
                new: bool = False) -> rules.Verdict | None:
        """The rules' verdict at `now` (Unix seconds, Redis's clock); None when no menu can be
        had within `timeout` seconds (`raw`: the cache entry as already read from Redis). `new`:
        a request not yet recorded, whose request_datetime must also be recent (REQUEST_MAX_AGE_SECONDS);
        an order already recorded is judged whatever its age."""
        try:
            menu = self.menus.get(request["location_id"], raw, timeout)
        except MenuUnavailable:
            return None
        return rules.check_order(request, menu, datetime.fromtimestamp(now, UTC), self.horizon,
                                 max_age_seconds=self.max_age if new else None)

    def ahead(self, request: dict, held: Held, now_estimate: float) -> tuple[rules.Verdict, int, int] | None:
        """A verdict against the menu this process holds, made before the order is recorded, that
        is the verdict at every Redis time in [lo_ms, hi_ms]: scripts.CREATE records the order as
        validated when Redis's menu is `held`'s version and its clock is inside the window (so
        the decision stays on Redis's clock and Redis's menu). None when it is not ok, or its
        time checks do not hold across the window around `now_estimate` (Unix seconds): the
        order is then checked after it is recorded, as always. The window holds because every
        time check holds on one interval of time (rules.time_problems), checked at both ends."""
        verdict = rules.check_order(request, held.entry, datetime.fromtimestamp(now_estimate, UTC), self.horizon,
                                    max_age_seconds=self.max_age)
        if not verdict.ok:
            return None
        lo, hi = now_estimate - WINDOW_SECONDS, now_estimate + WINDOW_SECONDS
        for end in (lo, hi):
            if rules.time_problems(request, datetime.fromtimestamp(end, UTC), self.horizon, self.max_age):
                return None
        return verdict, math.ceil(lo * 1000) + 1, math.floor(hi * 1000) - 1
