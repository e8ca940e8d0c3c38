"""Menu rules and totals, as pure functions (posnext-api.md, "Validation").

Input: an order request as the schema loaded it (money as Decimal), the location's cached
menu (`{"location": {...}, "items": {id: {...}}}`, prices in cents) and the time now.
Output: every problem found, each `{code, message, field}`, and the computed totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.jsonio import Json
from app.times import parse_time

CENT = Decimal("0.01")
TOP_LEVEL = {"Item", "Combo", "Promotion", "Discount", "Memo"}
CHILD_LEVEL = {"Modifier", "Discount", "Memo"}
PRICED = {"Item", "Combo", "Modifier"}
TAKEN_OFF = {"Discount", "Promotion"}
CURRENT_AHEAD = timedelta(hours=24)
FUTURE_SKEW = timedelta(seconds=60)  # how far ahead of now a new order's request_datetime may be
MAX_PROBLEMS = 50  # problems listed for one order; the rest are counted in a last entry


@dataclass
class Totals:
    subtotal: Decimal = Decimal("0.00")
    discount_total: Decimal = Decimal("0.00")
    tax: Decimal = Decimal("0.00")
    tip: Decimal = Decimal("0.00")
    grand_total: Decimal = Decimal("0.00")

    def as_dict(self) -> Json:
        return {name: getattr(self, name) for name in ("subtotal", "discount_total", "tax", "tip", "grand_total")}


@dataclass
class Verdict:
    problems: list[Json] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, message: str, where: str | None = None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.unlisted += 1
            self.problems[MAX_PROBLEMS:] = [
                {"code": "too_many_errors", "message": f"{self.unlisted} more problems not listed"}
            ]
            return
        problem = {"code": code, "message": message}
        if where:
            problem["field"] = where
        self.problems.append(problem)


def _price(line: Json) -> Decimal:
    return line.get("unit_price") or Decimal("0.00")


def compute_totals(details: Json, tax_rate: Decimal) -> Totals:
    """The five totals from the lines alone: the one place they are computed."""
    totals = Totals(tip=details.get("tip") or Decimal("0.00"))
    for line in details.get("items", []):
        kind, quantity = line["item_type"], line["quantity"]
        children = line.get("children") or []
        if kind in ("Item", "Combo"):
            each = _price(line) + sum(
                (_price(c) * c["quantity"] for c in children if c["item_type"] == "Modifier"), Decimal("0.00")
            )
            totals.subtotal += each * quantity
        elif kind in TAKEN_OFF:
            totals.discount_total += _price(line) * quantity
        totals.discount_total += sum(
            (_price(c) * c["quantity"] * quantity for c in children if c["item_type"] in TAKEN_OFF), Decimal("0.00")
        )
    taxable = max(totals.subtotal - totals.discount_total, Decimal("0.00"))
    totals.tax = (taxable * tax_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    totals.grand_total = totals.subtotal - totals.discount_total + totals.tax + totals.tip
    return totals


def _check_line(verdict: Verdict, line: Json, items: Json, where: str, top: bool) -> Json | None:
    kind = line["item_type"]
    allowed = TOP_LEVEL if top else CHILD_LEVEL
    if kind not in allowed:
        level = "at the top level" if top else "as a child"
        verdict.add("item_type_placement", f"{kind} is not allowed {level}", f"{where}.item_type")
        return None
    if kind == "Memo":
        if _price(line) != 0:
            verdict.add("price_mismatch", "a Memo carries no price", f"{where}.unit_price")
        return None
    entry: Json | None = items.get(line["id"])
    if entry is None or entry.get("item_type") != kind:
        verdict.add("item_unknown", f"{kind} {line['id']!r} is not on this location's menu", f"{where}.id")
        return None
    if not entry.get("available", True):
        verdict.add("item_unavailable", f"{line['id']!r} is not available now", f"{where}.id")
    menu_price = Decimal(int(entry.get("price") or 0)) / 100
    if line.get("unit_price") is None or line["unit_price"] != menu_price:
        verdict.add(
            "price_mismatch",
            f"{line['id']!r} costs {menu_price} on the menu, not {line.get('unit_price')}",
            f"{where}.unit_price",
        )
    return entry


def _check_children(verdict: Verdict, line: Json, entry: Json, items: Json, where: str) -> None:
    groups = entry.get("modifier_groups") or []
    counts = {group["id"]: 0 for group in groups}
    for index, child in enumerate(line.get("children") or []):
        child_where = f"{where}.children.{index}"
        if _check_line(verdict, child, items, child_where, top=False) is None:
            continue
        if child["item_type"] != "Modifier":
            continue
        group = next((g for g in groups if child["id"] in (g.get("modifier_ids") or [])), None)
        if group is None:
            verdict.add(
                "modifier_not_allowed", f"{child['id']!r} is not a modifier of {line['id']!r}", f"{child_where}.id"
            )
        else:
            counts[group["id"]] += child["quantity"]
    for group in groups:
        count, low, high = counts[group["id"]], group.get("min", 0), group.get("max")
        if count < low:
            verdict.add(
                "modifier_group_min",
                f"{line['id']!r} needs at least {low} of {group.get('name', group['id'])}, has {count}",
                f"{where}.children",
            )
        if high is not None and count > high:
            verdict.add(
                "modifier_group_max",
                f"{line['id']!r} allows at most {high} of {group.get('name', group['id'])}, has {count}",
                f"{where}.children",
            )


def _check_schedule(verdict: Verdict, order: Json, now: datetime, horizon: timedelta) -> None:
    fulfillment = order["order_details"].get("fulfillment") or {}
    promised = parse_time(fulfillment.get("promised_at"))
    where = "order_details.fulfillment.promised_at"
    if order.get("schedule_type") == "future":
        if promised is None or promised <= now:
            verdict.add("schedule_invalid", "a future order needs a promised_at in the future", where)
        elif promised > now + horizon:
            verdict.add("schedule_invalid", f"promised_at is more than {horizon.days} days ahead", where)
    elif promised is not None and promised > now + CURRENT_AHEAD:
        verdict.add("schedule_invalid", "a current order is promised more than 24 hours ahead", where)


def expired(order: Json, sent: datetime | None, now: datetime) -> bool:
    """The order's ttl has elapsed since `sent` (its request_datetime, parsed)."""
    ttl = order.get("ttl")
    return ttl is not None and bool(ttl) and sent is not None and sent + timedelta(seconds=float(ttl)) < now


def request_time_problem(sent: datetime | None, now: datetime, max_age_seconds: float) -> Json | None:
    """A NEW order's request_datetime (`sent`, parsed) more than `max_age_seconds` in the past or
    more than 60 s in the future: the `request_expired` problem, else None (posnext-api.md,
    "Authentication and signing"). A replayed or back-dated request never reaches the POS. Not for
    an order already recorded: a resubmit is answered from its record whatever its age."""
    where = "request_datetime"
    if sent is None:
        return {"code": "request_expired", "message": "request_datetime does not parse", "field": where}
    if sent < now - timedelta(seconds=max_age_seconds):
        return {
            "code": "request_expired",
            "message": f"request_datetime is more than {max_age_seconds:g} seconds old",
            "field": where,
        }
    if sent > now + FUTURE_SKEW:
        return {
            "code": "request_expired",
            "message": f"request_datetime is more than {FUTURE_SKEW.seconds} seconds ahead",
            "field": where,
        }
    return None


def check_order(
    order: Json,
    menu: Json | None,
    *,
    now: datetime,
    horizon: timedelta = timedelta(days=7),
    max_age_seconds: float | None = None,
) -> Verdict:
    """Every problem of the order, not only the first; totals computed from the menu's tax rate.
    `max_age_seconds`: check request_datetime's age too (a NEW order; see request_time_problem)."""
    verdict = Verdict()
    sent = parse_time(order.get("request_datetime"))
    stale = request_time_problem(sent, now, max_age_seconds) if max_age_seconds is not None else None
    if stale:
        verdict.add(stale["code"], stale["message"], stale["field"])
    if menu is None or menu.get("unknown"):
        verdict.add("location_unknown", f"location {order['location_id']!r} is unknown", "location_id")
        return verdict
    location, items = menu["location"], menu["items"]
    if not location.get("accepting_orders", True):
        verdict.add("location_closed", "the location is not accepting orders", "location_id")
    if expired(order, sent, now):
        verdict.add("request_expired", "the order's ttl has elapsed since request_datetime", "ttl")
    _check_schedule(verdict, order, now, horizon)
    details = order["order_details"]
    for index, line in enumerate(details["items"]):
        where = f"order_details.items.{index}"
        entry = _check_line(verdict, line, items, where, top=True)
        children = line.get("children") or []
        if entry is not None and line["item_type"] in ("Item", "Combo"):
            _check_children(verdict, line, entry, items, where)
        elif children:
            for c_index, child in enumerate(children):
                _check_line(verdict, child, items, f"{where}.children.{c_index}", top=False)
    verdict.totals = compute_totals(details, Decimal(str(location.get("tax_rate") or "0")))
    expected = verdict.totals.as_dict()
    for name, computed in expected.items():
        sent = details.get(name)
        if name in ("discount_total", "tip") and sent is None:
            continue
        if sent != computed:
            verdict.add("totals_mismatch", f"{name} is {computed}, not {sent}", f"order_details.{name}")
            if verdict.problems[-1]["code"] == "totals_mismatch":  # the computed figures: never signed
                verdict.problems[-1]["expected"] = dict(expected)
    return verdict
