"""compute_totals, checked against an independent computation in whole cents.

grand_total = subtotal - discount_total + tax + tip; tax is (subtotal - discount_total,
never below zero) x rate rounded half-up to the cent; the order of lines, and of the
children of a line, never changes a total.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from app.orders.rules import compute_totals
from tests.property.strategies import money

RATES = st.integers(min_value=0, max_value=2500).map(lambda n: Decimal(n) / 10000)  # 0 to 25 %, 4 places
CHILD = st.fixed_dictionaries(
    {
        "item_type": st.sampled_from(["Modifier", "Discount", "Memo"]),
        "quantity": st.integers(1, 20),
        "unit_price": money(5_000),
    }
)
LINE = st.fixed_dictionaries(
    {
        "item_type": st.sampled_from(["Item", "Combo", "Promotion", "Discount", "Memo"]),
        "quantity": st.integers(1, 50),
        "unit_price": money(),
        "children": st.lists(CHILD, max_size=4),
    }
)
DETAILS = st.fixed_dictionaries({"items": st.lists(LINE, min_size=1, max_size=8), "tip": money(10_000)})


def cents(amount: Decimal) -> int:
    return int(amount * 100)


def expected(details: dict, rate: Decimal) -> dict[str, int]:
    """The totals of posnext-api.md in integer cents, written apart from app.orders.rules."""
    subtotal = discount = 0
    for line in details["items"]:
        kind, quantity = line["item_type"], line["quantity"]
        if kind in ("Item", "Combo"):
            modifiers = sum(
                cents(c["unit_price"]) * c["quantity"] for c in line["children"] if c["item_type"] == "Modifier"
            )
            subtotal += (cents(line["unit_price"]) + modifiers) * quantity
        if kind in ("Discount", "Promotion"):
            discount += cents(line["unit_price"]) * quantity
        discount += sum(
            cents(c["unit_price"]) * c["quantity"] * quantity for c in line["children"] if c["item_type"] == "Discount"
        )
    exact = Fraction(max(subtotal - discount, 0)) * Fraction(rate)
    tax = (exact.numerator * 2 + exact.denominator) // (exact.denominator * 2)  # half-up, exact >= 0
    tip = cents(details["tip"])
    return {
        "subtotal": subtotal,
        "discount_total": discount,
        "tax": tax,
        "tip": tip,
        "grand_total": subtotal - discount + tax + tip,
    }


@given(DETAILS, RATES)
def test_totals_match_an_independent_computation_in_cents(details, rate):
    totals = compute_totals(details, rate).as_dict()
    assert {name: cents(value) for name, value in totals.items()} == expected(details, rate)
    assert all(value == value.quantize(Decimal("0.01")) for value in totals.values())


@given(DETAILS, RATES)
def test_grand_total_is_subtotal_less_discounts_plus_tax_and_tip(details, rate):
    t = compute_totals(details, rate)
    assert t.grand_total == t.subtotal - t.discount_total + t.tax + t.tip
    assert t.tax >= 0 and t.discount_total >= 0 and t.subtotal >= 0


@given(DETAILS, RATES, st.randoms(use_true_random=False))
def test_the_order_of_lines_and_children_changes_nothing(details, rate, rnd):
    lines = [dict(line, children=rnd.sample(line["children"], len(line["children"]))) for line in details["items"]]
    shuffled = {"tip": details["tip"], "items": rnd.sample(lines, len(lines))}
    assert compute_totals(shuffled, rate) == compute_totals(details, rate)


@given(st.integers(0, 10_000_000), RATES)
def test_tax_rounds_half_up_at_the_cent(taxable_cents, rate):
    details = {
        "items": [{"item_type": "Item", "quantity": 1, "unit_price": Decimal(taxable_cents) / 100, "children": []}]
    }
    tax = compute_totals(details, rate).tax
    exact = Fraction(taxable_cents, 100) * Fraction(rate)
    assert Fraction(tax) - Fraction(1, 200) <= exact < Fraction(tax) + Fraction(1, 200)
