"""schemas/fast_orders.load is OrderRequestSchema().load wherever it answers, and answers PAR's bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from schemas import fast_orders
from schemas.orders import OrderRequestSchema
from tests.property.strategies import JSON, paths, replaced, through_json
from tests.support.factories import sample_order

SCHEMA = OrderRequestSchema()


def schema_load(body):
    try:
        return SCHEMA.load(body)
    except ValidationError:
        return ValidationError


def bodies() -> list[dict]:
    plain = through_json(sample_order(uid="ord-1"))
    rich = through_json(
        sample_order(
            uid="ord-2",
            request_type="validate-order",
            schedule_type="future",
            ttl=600,
            callback_url=None,
            received_at="2026-11-23T18:00:00.000Z",
            completed_at=None,
            extra_top="dropped",
        )
    )
    rich["order_details"].update(
        pos_order_id="P-9",
        status="placed",
        kept={"any": [1, "x"]},
        discount_total=None,
        fulfillment={"mode": "delivery", "promised_at": "2026-11-24T18:00:00.000Z", "x": 1},
    )
    rich["order_details"]["items"][0]["children"][0].update(children=[], note=None, extra=True)
    rich["order_details"]["items"][1].update(unit_price=None, note="n")
    return [plain, rich]


@pytest.mark.parametrize("body", bodies())
def test_a_plain_body_is_loaded_fast_as_the_schema_loads_it(body):
    fast = fast_orders.load(body)
    assert fast is not None and fast == SCHEMA.load(body)
    assert "pos_order_id" not in fast["order_details"] and "extra_top" not in fast


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_a_body_broken_anywhere_is_the_schema_s_or_left_to_it(data):
    body = data.draw(st.sampled_from(bodies()))
    path = data.draw(st.sampled_from(list(paths(body))))
    new = data.draw(
        JSON
        | st.sampled_from(
            [
                None,
                True,
                0,
                -1,
                1000,
                "",
                "x" * 129,
                "a|b",
                Decimal("1.005"),
                Decimal("-1"),
                [],
                {},
                "2026-11-23T18:00:00Z",
                "item",
                "Modifier",
            ]
        )
    )
    broken = replaced(body, path, new)
    fast = fast_orders.load(broken)
    if fast is not None:
        assert fast == schema_load(broken)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_key_taken_away_anywhere_is_the_schema_s_or_left_to_it(data):
    body = data.draw(st.sampled_from(bodies()))
    path = data.draw(st.sampled_from([p for p in paths(body) if p and isinstance(p[-1], str)]))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    smaller = {k: v for k, v in parent.items() if k != path[-1]}
    broken = replaced(body, path[:-1], smaller)
    fast = fast_orders.load(broken)
    if fast is not None:
        assert fast == schema_load(broken)
