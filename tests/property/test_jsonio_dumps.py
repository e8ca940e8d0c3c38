"""jsonio.dumps (orjson where it keeps the rules, json otherwise) writes what json alone writes."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app import jsonio

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


def json_only(value):
    try:
        return json.dumps(value, default=jsonio._default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        return exc


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_dumps_writes_or_refuses_as_json_does(value):
    expected = json_only(value)
    if isinstance(expected, ValueError):
        try:
            jsonio.dumps(value)
        except ValueError:
            return
        raise AssertionError("written where json refuses")
    written = jsonio.dumps(value)
    assert json.loads(written, parse_float=Decimal) == json.loads(expected, parse_float=Decimal)
