"""JSON in and out: money is read as Decimal and written as a plain JSON number.

Reading refuses, before any arithmetic is done on it, what no order holds and what would cost
CPU or break a later write: a number of more than MAX_NUMBER_CHARS characters or with an
exponent beyond +-MAX_EXPONENT (`1e999999` would otherwise reach `int(Decimal)`, and `1` with
310 zeros `.5` a float `inf`), nesting deeper than MAX_DEPTH, a lone UTF-16 surrogate (it cannot
be encoded as UTF-8, so neither logged, signed nor stored), NaN and Infinity. Bytes must be UTF-8
(no BOM; raw surrogate bytes are not UTF-8): never UTF-16 or UTF-32 guessed.

Writing can never produce non-JSON: `allow_nan=False`, and a non-finite Decimal is an error.

A Decimal with at most two places (all money here, bounded by the schema) survives the
trip through float's shortest repr exactly, so `24.71` is written as `24.71`.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import orjson

Json = dict[str, Any]  # a JSON object as loaded: a request, a record, an answer's body

MAX_NUMBER_CHARS = 40
MAX_EXPONENT = 40
MAX_DEPTH = 32
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BadJson(ValueError):
    pass


def _reject_constant(name: str):
    raise BadJson(f"{name} is not valid JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadJson(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadJson(f"a number has more than {MAX_NUMBER_CHARS} characters")
    value = Decimal(text)
    exponent = value.as_tuple().exponent  # an int: the text parsed, so not NaN or Infinity
    bounded = isinstance(exponent, int) and -MAX_EXPONENT <= exponent <= MAX_EXPONENT
    if not bounded or (value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT):
        raise BadJson(f"a number's exponent is beyond +-{MAX_EXPONENT}")
    return value


def _check_tree(value, surrogates: bool) -> None:
    """Depth and (when the text held a surrogate escape) encodability, without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise BadJson(f"nesting is deeper than {MAX_DEPTH}")
            if surrogates:
                for key in node:
                    _encodable(key)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise BadJson(f"nesting is deeper than {MAX_DEPTH}")
            stack.extend((child, depth + 1) for child in node)
        elif surrogates and isinstance(node, str):
            _encodable(node)


def _encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson("a string holds a lone UTF-16 surrogate") from None


def loads(raw: bytes | str):
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        # bytes are UTF-8 or refused: json.loads(bytes) would guess UTF-16/32 and let raw surrogates through
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
        if text.startswith("\ufeff"):
            raise BadJson("a body starts with a byte order mark; send UTF-8 JSON without one")
        value = json.loads(text, parse_float=_decimal, parse_int=_int, parse_constant=_reject_constant)
    except BadJson:
        raise
    except UnicodeDecodeError:
        raise BadJson("the body is not UTF-8") from None
    except (ValueError, RecursionError, UnicodeError):
        raise BadJson("body is not valid JSON") from None
    surrogates = bool(_SURROGATE_ESCAPE.search(data)) or isinstance(raw, str)
    if surrogates or data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        _check_tree(value, surrogates)
    return value


def _default(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        exponent = value.as_tuple().exponent  # an int: the value is finite
        if value == value.to_integral_value() and isinstance(exponent, int) and exponent >= 0:
            whole = int(value)
            if len(str(whole)) <= MAX_NUMBER_CHARS:  # 1E+39 as 40 digits would not read back: a float
                return whole
        number = float(value)
        if not math.isfinite(number):  # beyond a float (1e400.5): refused, never written as null
            raise ValueError(f"{value} is beyond a JSON number")
        return number
    if isinstance(value, (set, frozenset)):
        members = sorted(value)
        if any(type(m) is float and not math.isfinite(m) for m in members):
            raise ValueError("NaN or Infinity is not a JSON number")
        return members
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# datetimes, dataclasses and subclasses of str, int, dict and list go to `_default` (so to json),
# as with json alone: orjson would write the first two, which json refuses.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _non_finite_float(value) -> bool:
    """Whether a float NaN or Infinity is anywhere in `value` (orjson would write it as null)."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        kind = type(node)
        if kind is dict:
            push(node.values())
        elif kind is list or kind is tuple:
            push(node)
        elif kind in _LEAVES:
            continue
        elif isinstance(node, float) and not math.isfinite(node):
            return True
        elif isinstance(node, dict):
            push(node.values())
        elif isinstance(node, (list, tuple)):
            push(node)
    return False


_LEAVES = frozenset((str, int, bool, type(None), Decimal))


def dumps(value, **kwargs) -> str:
    """Compact JSON text. orjson writes it when it can keep every rule: whatever it refuses (an
    integer beyond 64 bits, a non-string key, a lone surrogate, a non-finite Decimal) and a float
    NaN or Infinity (which orjson would write as null) go to json, which writes or refuses them
    as it always has. The text may differ from json's only in how a float's exponent is spelled."""
    if not kwargs:
        try:
            text = orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            pass
        else:
            if b"null" not in text or not _non_finite_float(value):
                return text.decode()
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False, **kwargs)


def canonical(value) -> str:
    """Sorted keys and normalised decimals: two equal payloads give one string."""

    def norm(v):
        if isinstance(v, Decimal):
            if not v.is_finite():
                raise ValueError(f"{v} is not a JSON number")
            return format(v.normalize(), "f")
        raise TypeError(type(v).__name__)

    return json.dumps(value, default=norm, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cents_to_money(cents: int) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def money_to_cents(amount) -> int:
    return int((Decimal(amount or 0) * 100).to_integral_value())


def iso(epoch: float) -> str:
    from app.times import format_time

    return format_time(epoch)
