"""Hypothesis strategies shared by the property tests: JSON values as jsonio reads them."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from app import jsonio

# What jsonio.loads can hand the schemas: None, bools, ints, Decimals (never floats), strings,
# lists and objects with string keys.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
OBJECTS = st.dictionaries(st.text(max_size=16), JSON, max_size=8)
DIGESTS = st.none() | st.text(max_size=80) | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def through_json(value):
    """The value as it comes back from the wire (Decimal money, no tuples)."""
    return jsonio.loads(jsonio.dumps(value))


def paths(value, prefix=()):
    """Every path into a nested JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(value, path, new):
    """A copy of `value` with the element at `path` replaced by `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(value[head], rest, new)
    return copy


def money(max_cents: int = 100_000) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=0, max_value=max_cents).map(lambda n: (Decimal(n) / 100).quantize(Decimal("0.01")))
