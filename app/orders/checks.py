"""An order against its location's cached menu: the rules of rules.py, with the menu read
within the time the caller has left. Validate, submit and the workers call this one check."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings

from datetime import UTC, datetime, timedelta

from app.jsonio import Json
from app.menus import NOT_READ, MenuCache, MenuUnavailable
from app.orders import rules


def menu_unavailable(request: Json) -> Json:
    return {
        "code": "menu_unavailable",
        "message": f"no menu for {request.get('location_id')!r} is cached and the POS cannot be reached",
        "field": "location_id",
    }


class OrderChecks:
    def __init__(self, menus: MenuCache, settings: Settings):
        self.menus = menus
        self.horizon = timedelta(days=settings.future_horizon_days)
        self.max_age = settings.request_max_age_seconds

    def verdict(
        self, request: Json, now: float, *, raw: object = NOT_READ, timeout: float | None = None, new: bool = False
    ) -> rules.Verdict | None:
        """The rules' verdict at `now` (Unix seconds, Redis's clock); None when no menu can be
        had within `timeout` seconds (`raw`: the cache entry as already read from Redis). `new`:
        a request not yet recorded, whose request_datetime must also be recent (REQUEST_MAX_AGE_SECONDS);
        an order already recorded is judged whatever its age."""
        try:
            menu = self.menus.get(request["location_id"], raw, timeout)
        except MenuUnavailable:
            return None
        return rules.check_order(
            request,
            menu,
            now=datetime.fromtimestamp(now, UTC),
            horizon=self.horizon,
            max_age_seconds=self.max_age if new else None,
        )
