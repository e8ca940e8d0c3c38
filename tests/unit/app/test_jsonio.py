"""JSON reading refuses pathological input before any arithmetic; writing never makes non-JSON."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from app import jsonio


@pytest.mark.parametrize("number", ["1e999999", "1e1000000", "-1e300000", "1e-999999", "0e999999999", "1E41"])
def test_a_huge_exponent_is_refused_at_once(number):
    """Issue 11, finding 2."""
    started = time.perf_counter()
    with pytest.raises(jsonio.BadJson):
        jsonio.dumps(jsonio.loads('{"order_details": {"extra": ' + number + "}}"))
    assert time.perf_counter() - started < 1.0  # a bomb would take minutes; 1 s leaves a loaded CI machine room


def test_a_number_that_would_be_infinity_is_refused():
    """Issue 11, finding 3."""
    with pytest.raises(jsonio.BadJson, match="characters"):
        jsonio.loads('{"x": 1' + "0" * 310 + ".5}")


@pytest.mark.parametrize("text", ["9" * 41, "-" + "9" * 40])
def test_long_integers_are_refused(text):
    with pytest.raises(jsonio.BadJson):
        jsonio.loads(text)


def test_ordinary_numbers_still_read_as_decimal():
    assert jsonio.loads('{"a": 24.71, "b": 2, "c": 1e3}') == {"a": Decimal("24.71"), "b": 2, "c": Decimal("1e3")}


def test_writing_never_produces_non_json():
    for value in (float("inf"), float("nan"), Decimal("Infinity"), Decimal("NaN")):
        with pytest.raises(ValueError):
            jsonio.dumps({"x": value})
        with pytest.raises(ValueError):
            jsonio.canonical({"x": value})


@pytest.mark.parametrize("text", ['"\\ud800"', '{"\\udc00": 1}', '["a", {"b": "x\\udfff"}]'])
def test_a_lone_surrogate_is_refused(text):
    with pytest.raises(jsonio.BadJson, match="surrogate"):
        jsonio.loads(text.encode())


def test_a_surrogate_pair_is_one_character():
    assert jsonio.loads(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_deep_nesting_is_refused_without_recursion():
    assert jsonio.loads("[" * 32 + "]" * 32) is not None
    for depth in (33, 5000, 100000):
        with pytest.raises(jsonio.BadJson):
            jsonio.loads("[" * depth + "]" * depth)
    with pytest.raises(jsonio.BadJson):
        jsonio.loads('{"a":' * 40 + "1" + "}" * 40)


def _json_only(value) -> str:
    return json.dumps(value, default=jsonio._default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", [lambda v: [1, None, {"a": (v,)}], lambda v: {"x": None, "y": [{"z": v}]}])
def test_a_non_finite_float_anywhere_is_refused_not_written_as_null(value, where):
    with pytest.raises(ValueError):
        jsonio.dumps(where(value))


@pytest.mark.parametrize(
    "value",
    [
        {"big": 10**30, "neg": -(10**25)},  # beyond orjson's 64 bits
        {1: "a", 2.5: "b"},  # non-string keys, as json writes them
        {"set": {3, 1, 2}},
        {"money": Decimal("24.71"), "whole": Decimal("5"), "zero": Decimal("0.00"), "e": Decimal("1E+3")},
        {"text": 'é ü — \U0001f600 "q" \\ \n', "none": None, "t": True, "f": False, "float": 0.1, "n": [1, 2.5]},
    ],
)
def test_dumps_writes_what_json_writes(value):
    assert json.loads(jsonio.dumps(value)) == json.loads(_json_only(value))
    if not any(isinstance(k, float) for k in value):
        assert jsonio.dumps(value) == _json_only(value)


def test_what_json_refuses_is_still_refused():
    import dataclasses
    from datetime import UTC, datetime

    @dataclasses.dataclass
    class Point:
        x: int

    for value in (datetime.now(UTC), Point(1), object(), Decimal("NaN")):
        with pytest.raises((TypeError, ValueError)):
            jsonio.dumps({"v": value})


def test_a_lone_surrogate_is_written_as_json_writes_it():
    assert jsonio.dumps({"s": "a\ud800"}) == _json_only({"s": "a\ud800"})


@pytest.mark.parametrize("value", [{float("nan")}, {"a": Decimal("1" + "0" * 400 + ".5")}, [{float("inf"), 1.0}]])
def test_what_becomes_a_non_finite_number_on_the_way_out_is_refused_never_written_as_null(value):
    """The review of the orjson writer: values turned into numbers by the default hook (a set, a
    Decimal beyond a float) were written as null; json refused them, as dumps does again."""
    with pytest.raises(ValueError):
        jsonio.dumps(value)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "Ana\xed\xa0\x80"}',  # a raw (not escaped) UTF-16 surrogate: no UTF-8 at all
        b'{"name": "\xff"}',
        '{"name": "Ana"}'.encode("utf-16"),
        '{"name": "Ana"}'.encode("utf-16-le"),
        '{"name": "Ana"}'.encode("utf-32"),
        '{"name": "Ana"}'.encode("utf-32-be"),
        b'\xef\xbb\xbf{"name": "Ana"}',  # a UTF-8 BOM
    ],
)
def test_a_body_is_utf8_json_or_refused(raw):
    """Issue 23, finding 6: json.loads(bytes) guesses UTF-16/32 and decodes with surrogatepass: a raw surrogate reached
    the Redis write (a 500), and UTF-16, UTF-32 and BOM bodies were read as JSON."""
    with pytest.raises(jsonio.BadJson):
        jsonio.loads(raw)


def test_utf8_text_beyond_ascii_still_reads():
    assert jsonio.loads('{"name": "Añá 😀"}'.encode()) == {"name": "Añá 😀"}


def test_what_is_written_reads_back_even_for_an_integral_decimal_with_a_large_exponent():
    """The hostile run: `1e40` read as Decimal('1E+40') was written as 41 digits, which reading
    refuses (a number of more than MAX_NUMBER_CHARS characters): a stored record unreadable."""
    from decimal import Decimal

    for text in ('{"x": 1e40}', '{"x": 1E+40}', '{"x": 5e40}'):
        value = jsonio.loads(text)
        assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.loads(jsonio.dumps({"x": Decimal("1E+40")}))["x"] == Decimal("1E+40")
