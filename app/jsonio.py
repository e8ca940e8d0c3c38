"""JSON in and out: money is read as Decimal and written as a plain JSON number.

A Decimal with at most two places (all money here, bounded by the schema) survives the
trip through float's shortest repr exactly, so `24.71` is written as `24.71`.
"""

from __future__ import annotations

import json
from decimal import Decimal


class BadJson(ValueError):
    pass


def _reject_constant(name: str):
    raise BadJson(f"{name} is not valid JSON")


def loads(raw: bytes | str):
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadJson(str(exc) if isinstance(exc, BadJson) else "body is not valid JSON") from None


def _default(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value, **kwargs) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False, **kwargs)


def canonical(value) -> str:
    """Sorted keys and normalised decimals: two equal payloads give one string."""
    def norm(v):
        if isinstance(v, Decimal):
            return format(v.normalize(), "f")
        raise TypeError(type(v).__name__)
    return json.dumps(value, default=norm, sort_keys=True, separators=(",", ":"))


def cents_to_money(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def money_to_cents(amount) -> int:
    return int((Decimal(amount or 0) * 100).to_integral_value())


def iso(epoch: float) -> str:
    from app.times import format_time

    return format_time(epoch)
