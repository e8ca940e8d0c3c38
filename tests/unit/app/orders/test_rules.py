"""Menu rules and totals: every rejection code of posnext-api.md "Validation", and the arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from app.orders.rules import check_order, compute_totals, expired
from app.times import format_time
from schemas.orders import OrderRequestSchema
from tests.support.factories import menu, sample_order, with_totals

NOW = datetime(2026, 11, 23, 18, 0, 0, tzinfo=UTC)
D = Decimal


def order(location_id="loc-001", **overrides) -> dict:
    overrides.setdefault("request_datetime", format_time(NOW))
    return sample_order(uid="ord-1", location_id=location_id, **overrides)


def line(item_id, item_type, price, quantity=1, children=()):
    out = {
        "id": item_id,
        "item_type": item_type,
        "quantity": quantity,
        "unit_price": None if price is None else D(price),
    }
    if children:
        out["children"] = list(children)
    return out


def check(body, location_id="loc-001", now=NOW, horizon=timedelta(days=7)):
    loaded = OrderRequestSchema().load(body)
    return check_order(loaded, menu(location_id), now=now, horizon=horizon)


def codes(verdict) -> list[str]:
    return [p["code"] for p in verdict.problems]


def with_lines(*lines, location_id="loc-001", tax_rate="0.0825", **overrides):
    body = order(location_id, **overrides)
    body["order_details"]["items"] = list(lines)
    return with_totals(body, tax_rate)


def test_the_sample_order_is_valid_and_totals_are_echoed():
    verdict = check(order())
    assert verdict.ok, verdict.problems
    totals = verdict.totals.as_dict()
    assert totals == {
        "subtotal": D("22.97"),
        "discount_total": D("0.00"),
        "tax": D("1.90"),
        "tip": D("2.00"),
        "grand_total": D("26.87"),
    }


@pytest.mark.parametrize("cached", [None, {"unknown": True, "location_id": "loc-999"}])
def test_location_unknown(cached):
    loaded = OrderRequestSchema().load(order("loc-999"))
    verdict = check_order(loaded, cached, now=NOW)
    assert codes(verdict) == ["location_unknown"]
    assert verdict.problems[0]["field"] == "location_id"


def test_location_closed():
    body = with_totals(order("loc-003"), "0.0700")
    assert codes(check(body, "loc-003")) == ["location_closed"]


def test_item_unknown():
    body = with_lines(line("item-001", "Item", "8.99"), line("item-999", "Item", "1.00"))
    verdict = check(body)
    assert codes(verdict) == ["item_unknown"]
    assert verdict.problems[0]["field"] == "order_details.items.1.id"


def test_an_id_under_another_item_type_is_unknown():
    body = with_lines(line("mod-001", "Item", "1.50"))
    assert codes(check(body)) == ["item_unknown"]


def test_item_unavailable():
    verdict = check(with_lines(line("item-004", "Item", "7.49")))
    assert codes(verdict) == ["item_unavailable"]


def test_price_mismatch_at_both_levels():
    body = with_lines(line("item-001", "Item", "9.99", children=[line("mod-001", "Modifier", "1.00")]))
    verdict = check(body)
    assert codes(verdict) == ["price_mismatch", "price_mismatch"]
    assert [p["field"] for p in verdict.problems] == [
        "order_details.items.0.unit_price",
        "order_details.items.0.children.0.unit_price",
    ]


def test_a_priced_line_without_a_price_is_a_mismatch():
    assert codes(check(with_lines(line("item-003", "Item", None)))) == ["price_mismatch"]


def test_modifier_not_allowed():
    body = with_lines(line("item-002", "Item", "3.49", children=[line("mod-003", "Modifier", "2.00")]))
    verdict = check(body)
    assert codes(verdict) == ["modifier_not_allowed"]
    assert verdict.problems[0]["field"] == "order_details.items.0.children.0.id"


def test_modifier_group_min():
    body = with_lines(line("combo-001", "Combo", "12.99"))
    assert codes(check(body)) == ["modifier_group_min"]
    body = with_lines(line("combo-001", "Combo", "12.99", children=[line("mod-005", "Modifier", "0.00")]))
    assert check(body).ok


@pytest.mark.parametrize(
    "children",
    [
        [line("mod-001", "Modifier", "1.50"), line("mod-002", "Modifier", "0.00")],
        [line("mod-001", "Modifier", "1.50", quantity=2)],
    ],
    ids=["two children", "one child, quantity 2"],
)
def test_modifier_group_max_counts_quantities(children):
    body = with_lines(line("item-001", "Item", "8.99", children=children))
    assert codes(check(body)) == ["modifier_group_max"]


def test_modifier_group_max_at_the_limit_is_fine():
    extras = [line("mod-003", "Modifier", "2.00", quantity=2), line("mod-004", "Modifier", "1.00")]
    assert check(with_lines(line("item-001", "Item", "8.99", children=extras))).ok
    extras[1]["quantity"] = 2
    assert codes(check(with_totals(with_lines(line("item-001", "Item", "8.99", children=extras))))) == [
        "modifier_group_max"
    ]


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        ([line("item-003", "Item", "1.99"), line("mod-001", "Modifier", "1.50")], "order_details.items.1.item_type"),
        (
            [line("item-001", "Item", "8.99", children=[line("item-003", "Item", "1.99")])],
            "order_details.items.0.children.0.item_type",
        ),
        (
            [line("item-001", "Item", "8.99", children=[line("promo-001", "Promotion", "3.00")])],
            "order_details.items.0.children.0.item_type",
        ),
        (
            [line("item-001", "Item", "8.99", children=[line("combo-001", "Combo", "12.99")])],
            "order_details.items.0.children.0.item_type",
        ),
    ],
    ids=["Modifier on top", "Item as child", "Promotion as child", "Combo as child"],
)
def test_item_type_placement(lines, where):
    verdict = check(with_lines(*lines))
    assert codes(verdict) == ["item_type_placement"]
    assert verdict.problems[0]["field"] == where


def test_discount_and_memo_are_allowed_at_both_levels():
    body = with_lines(
        line(
            "item-001",
            "Item",
            "8.99",
            quantity=2,
            children=[line("disc-001", "Discount", "2.00"), {"id": "memo-1", "item_type": "Memo", "quantity": 1}],
        ),
        line("disc-001", "Discount", "2.00"),
        {"id": "memo-2", "item_type": "Memo", "quantity": 1, "note": "ring the bell"},
    )
    verdict = check(body)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("name", ["subtotal", "discount_total", "tax", "tip", "grand_total"])
def test_totals_mismatch_names_the_total(name):
    body = order()
    details = body["order_details"]
    if name == "tip":  # a tip is whatever was given: the grand total must follow it
        details["tip"] += D("1.00")
        mismatched = {"order_details.grand_total"}
    else:
        details[name] += D("0.01")
        mismatched = {f"order_details.{name}"}
    verdict = check(body)
    assert set(codes(verdict)) == {"totals_mismatch"}
    assert {p["field"] for p in verdict.problems} == mismatched


def test_request_expired():
    body = order(ttl=60, request_datetime=format_time(NOW - timedelta(seconds=61)))
    assert codes(check(body)) == ["request_expired"]
    body = order(ttl=60, request_datetime=format_time(NOW - timedelta(seconds=59)))
    assert check(body).ok


def test_expired_needs_a_ttl():
    loaded = OrderRequestSchema().load(order(request_datetime=format_time(NOW - timedelta(days=2))))
    assert not expired(loaded, NOW - timedelta(days=2), NOW)


def promised(body, when, schedule_type):
    body["schedule_type"] = schedule_type
    body["order_details"]["fulfillment"]["promised_at"] = None if when is None else format_time(when)
    return body


@pytest.mark.parametrize(
    ("schedule_type", "when"),
    [
        ("future", None),
        ("future", NOW - timedelta(minutes=5)),
        ("future", NOW + timedelta(days=7, minutes=1)),
        ("current", NOW + timedelta(hours=24, minutes=1)),
    ],
    ids=["future without promised_at", "future in the past", "future beyond the horizon", "current > 24h ahead"],
)
def test_schedule_invalid(schedule_type, when):
    verdict = check(promised(order(), when, schedule_type))
    assert codes(verdict) == ["schedule_invalid"]
    assert verdict.problems[0]["field"] == "order_details.fulfillment.promised_at"


@pytest.mark.parametrize(
    ("schedule_type", "when"),
    [
        ("future", NOW + timedelta(days=6, hours=23)),
        ("current", NOW + timedelta(hours=23)),
        ("current", None),
    ],
)
def test_schedule_accepted(schedule_type, when):
    assert check(promised(order(), when, schedule_type)).ok


def test_the_future_horizon_is_configurable():
    body = promised(order(), NOW + timedelta(days=2), "future")
    assert codes(check(body, horizon=timedelta(days=1))) == ["schedule_invalid"]
    assert check(body, horizon=timedelta(days=3)).ok


def test_every_problem_is_reported_not_only_the_first():
    body = order("loc-003", ttl=30, request_datetime=format_time(NOW - timedelta(minutes=5)))
    body = promised(body, None, "future")
    body["order_details"]["items"] = [
        line("item-999", "Item", "1.00"),
        line("item-004", "Item", "7.00"),
        line("mod-001", "Modifier", "1.50"),
        line("item-002", "Item", "3.49", children=[line("mod-003", "Modifier", "2.00")]),
        line("item-001", "Item", "8.99", children=[line("mod-001", "Modifier", "1.50", quantity=2)]),
        line("combo-001", "Combo", "12.99"),
    ]
    verdict = check(body, "loc-003")
    assert set(codes(verdict)) == {
        "location_closed",
        "request_expired",
        "schedule_invalid",
        "item_unknown",
        "item_unavailable",
        "price_mismatch",
        "item_type_placement",
        "modifier_not_allowed",
        "modifier_group_max",
        "modifier_group_min",
        "totals_mismatch",
    }


def details(*lines, tip="0.00"):
    return {"items": list(lines), "tip": D(tip)}


def test_child_quantity_is_per_unit_of_its_parent():
    totals = compute_totals(
        details(
            line("item-001", "Item", "8.99", quantity=3, children=[line("mod-003", "Modifier", "2.00", quantity=2)])
        ),
        D("0"),
    )
    assert totals.subtotal == D("38.97")  # (8.99 + 2 x 2.00) x 3


def test_discounts_and_promotions_at_both_levels():
    totals = compute_totals(
        details(
            line("item-001", "Item", "8.99", quantity=2, children=[line("disc-001", "Discount", "2.00")]),
            line("combo-001", "Combo", "12.99", children=[line("mod-006", "Modifier", "1.00")]),
            line("disc-001", "Discount", "2.00"),
            line("promo-001", "Promotion", "3.00", quantity=2),
            tip="1.50",
        ),
        D("0.0825"),
    )
    assert totals.subtotal == D("31.97")  # 8.99 x 2 + (12.99 + 1.00)
    assert totals.discount_total == D("12.00")  # 2.00 x 2 (per burger) + 2.00 + 3.00 x 2
    assert totals.tax == D("1.65")  # 19.97 x 0.0825 = 1.647525
    assert totals.grand_total == D("23.12")  # 31.97 - 12.00 + 1.65 + 1.50


def test_a_memo_carries_no_price_and_costs_nothing():
    memo = {"id": "memo-1", "item_type": "Memo", "quantity": 1}
    totals = compute_totals(details(line("item-003", "Item", "1.99"), memo), D("0"))
    assert totals.subtotal == D("1.99")
    priced_memo = with_lines(line("item-003", "Item", "1.99"), dict(memo, unit_price=D("1.00")))
    verdict = check(priced_memo)
    assert codes(verdict) == ["price_mismatch"]
    assert verdict.problems[0]["field"] == "order_details.items.1.unit_price"


def test_tax_rounds_half_up_at_the_cent():
    totals = compute_totals(details(line("x", "Item", "2.00")), D("0.0825"))
    exact = D("2.00") * D("0.0825")
    assert exact == D("0.165")
    assert exact.quantize(D("0.01"), rounding=ROUND_HALF_EVEN) == D("0.16")  # what banker's rounding would give
    assert totals.tax == D("0.17")


def test_half_up_tax_decides_validation():
    """25 sodas at loc-002 (6%): 49.75 x 0.06 = 2.985 -> 2.99 (half-even would say 2.98)."""
    body = with_lines(line("item-003", "Item", "1.99", quantity=25), location_id="loc-002", tax_rate="0.0600")
    assert body["order_details"]["tax"] == D("2.99")
    assert check(body, "loc-002").ok
    half_even = body["order_details"]
    half_even["tax"] = D("2.98")
    half_even["grand_total"] -= D("0.01")
    verdict = check(body, "loc-002")
    assert codes(verdict) == ["totals_mismatch", "totals_mismatch"]
    assert {p["field"] for p in verdict.problems} == {"order_details.tax", "order_details.grand_total"}


def test_tax_is_never_negative_when_discounts_exceed_the_subtotal():
    totals = compute_totals(
        details(line("item-003", "Item", "1.99"), line("promo-001", "Promotion", "3.00")), D("0.0825")
    )
    assert totals.tax == D("0.00")
    assert totals.discount_total == D("3.00")


# -- issue 11: a new order's request_datetime --------------------------------------------
def test_a_request_older_than_the_max_age_or_from_the_future_is_expired():
    from datetime import UTC, datetime, timedelta

    from app.orders.rules import check_order, request_time_problem
    from app.times import parse_time
    from tests.support.factories import sample_order

    now = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    at = lambda seconds: now + timedelta(seconds=seconds)  # noqa: E731 - request_datetime, parsed
    assert request_time_problem(at(-300), now, 300) is None
    assert request_time_problem(at(60), now, 300) is None
    for offset in (-301, 61, -86400 * 365 * 56):
        assert request_time_problem(at(offset), now, 300)["code"] == "request_expired"
    epoch = sample_order(request_datetime="1970-01-01T00:00:00.000Z")
    assert request_time_problem(parse_time(epoch["request_datetime"]), now, 300)["field"] == "request_datetime"
    assert request_time_problem(None, now, 300)["message"] == "request_datetime does not parse"
    menu_entry = None
    verdict = check_order(epoch, menu_entry, now=now, max_age_seconds=300)
    assert "request_expired" in {p["code"] for p in verdict.problems}
    assert "request_expired" not in {p["code"] for p in check_order(epoch, None, now=now).problems}


def test_the_problems_listed_are_capped():
    from app.orders.rules import MAX_PROBLEMS, Verdict

    verdict = Verdict()
    for index in range(300):
        verdict.add("item_unknown", f"item {index}", f"order_details.items.{index}.id")
    assert len(verdict.problems) == MAX_PROBLEMS + 1 and not verdict.ok
    assert verdict.problems[-1] == {"code": "too_many_errors", "message": "250 more problems not listed"}
