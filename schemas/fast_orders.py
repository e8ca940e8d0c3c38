"""OrderRequestSchema's load for the bodies PAR sends every time, without marshmallow's machinery.

`load(body)` returns exactly what `OrderRequestSchema().load(body)` returns (the same fields,
defaults and Decimal money, unknown fields kept where the schema keeps them and dropped where it
drops them), or None whenever the body is anything but plainly valid: an error, a value of an
unusual type, a callback_url (its URL rules are marshmallow's alone). The caller then loads it
with the schema, which gives every error its message. Leaves reuse the schema's own field code
(Money, the key and time rules), so a rule lives in one place; tests/property/test_fast_orders.py
compares the two on valid bodies and on bodies broken anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError

from app.times import parse_time
from schemas.fields import Money, is_key
from schemas.orders import ITEM_TYPES, REQUEST_TYPES, SERVICE_ONLY_DETAILS

_MONEY = Money()
_MAX_TTL = 7 * 24 * 3600

Loaded = dict[str, Any]  # a body (or part of one) as the schema loads it
Reader = Callable[[object], object]  # a field's value as loaded; _Refuse when not plainly valid
# a declared field: its reader, or its reader and the default's factory when absent
Declared = dict[str, Reader | tuple[Reader, Callable[[], object]]]


class _Refuse(Exception):
    """Not plainly valid: the schema decides."""


def _text(value: object, low: int = 0, high: int | None = None) -> str:
    if type(value) is not str or len(value) < low or (high is not None and len(value) > high):
        raise _Refuse
    return value


def _time(value: object) -> str:
    if type(value) is not str or parse_time(value) is None:
        raise _Refuse
    return value


def _money(value: object) -> Decimal:
    if type(value) is not int and type(value) is not Decimal:
        raise _Refuse
    try:
        return _MONEY._deserialize(value, None, None)
    except ValidationError:
        raise _Refuse from None


def _int(value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _Refuse
    return value


def _object(value: object, declared: Declared, known: frozenset[str]) -> Loaded:
    """An INCLUDE schema: the declared fields (name -> reader or (reader, default)), then the rest."""
    if type(value) is not dict:
        raise _Refuse
    out: Loaded = {}
    for name, reader in declared.items():
        if name in value:
            out[name] = (reader[0] if isinstance(reader, tuple) else reader)(value[name])
        elif isinstance(reader, tuple):
            out[name] = reader[1]()
    for name, item in value.items():
        if name not in known:
            out[name] = item
    return out


def _up_to(high: int) -> Reader:
    return lambda v: _text(v, 0, high)


def _strings(**limits: int) -> Declared:
    return {name: _up_to(high) for name, high in limits.items()}


def _note(value: object) -> str | None:
    return None if value is None else _text(value, 0, 500)


def _no_children(value: object) -> list[object]:
    if type(value) is not list or value:
        raise _Refuse
    return []


def _line_fields(children: Reader | tuple[Reader, Callable[[], object]]) -> Declared:
    return {
        "id": lambda v: _text(v, 1, 128),
        **_strings(name=200),
        "item_type": lambda v: _member(v, ITEM_TYPES),
        "quantity": lambda v: _int(v, 1, 999),
        "unit_price": (lambda v: None if v is None else _money(v), lambda: None),
        "note": _note,
        "children": children,
    }


def _member(value: object, allowed: tuple[str, ...]) -> str:
    if type(value) is not str or value not in allowed:
        raise _Refuse
    return value


def _list(reader: Reader, high: int, low: int = 0) -> Callable[[object], list[object]]:
    def read(value: object) -> list[object]:
        if type(value) is not list or not low <= len(value) <= high:
            raise _Refuse
        return [reader(each) for each in value]

    return read


def _nested(declared: Declared, required: tuple[str, ...] = ()) -> Callable[[object], Loaded]:
    known = frozenset(declared)

    def read(value: object) -> Loaded:
        if type(value) is not dict or any(name not in value for name in required):
            raise _Refuse
        return _object(value, declared, known)

    return read


_LINE_REQUIRED = ("id", "item_type", "quantity")
_CHILD = _nested(_line_fields(_no_children), _LINE_REQUIRED)
_LINE = _nested(_line_fields((_list(_CHILD, 50), list)), _LINE_REQUIRED)
_PAYMENT = _nested({"type": lambda v: _text(v, 1, 32), "amount": _money, **_strings(reference=128)}, ("type", "amount"))
_FULFILLMENT = _nested({**_strings(mode=32), "promised_at": lambda v: None if v is None else _time(v)})
_CUSTOMER = _nested(_strings(name=200, phone=40, email=254))


def _online_order_id(value: object) -> str:
    text = _text(value, 0, 128)
    if "|" in text:
        raise _Refuse
    return text


_DETAILS_FIELDS: Declared = {
    "online_order_id": _online_order_id,
    "fulfillment": _FULFILLMENT,
    "customer": _CUSTOMER,
    "items": _list(_LINE, 200, low=1),
    "subtotal": _money,
    "discount_total": (lambda v: None if v is None else _money(v), lambda: None),
    "tax": _money,
    "tip": (lambda v: None if v is None else _money(v), lambda: None),
    "grand_total": _money,
    "payments": _list(_PAYMENT, 20),
}
_DETAILS_KNOWN = frozenset(_DETAILS_FIELDS)
_DETAILS_REQUIRED = ("items", "subtotal", "tax", "grand_total")


def _details(value: object) -> Loaded:
    if type(value) is not dict or any(name not in value for name in _DETAILS_REQUIRED):
        raise _Refuse
    out = _object(value, _DETAILS_FIELDS, _DETAILS_KNOWN)
    for name in SERVICE_ONLY_DETAILS:
        out.pop(name, None)
    return out


def load(body: object) -> Loaded | None:
    """The loaded order, as the schema loads it; None: let the schema load it (and say why not)."""
    try:
        if type(body) is not dict or body.get("callback_url") is not None:
            return None
        for name in ("request_uid", "request_type", "request_datetime", "location_id", "order_details"):
            if name not in body:
                return None
        if not (is_key(body["request_uid"]) and is_key(body["location_id"])):
            return None
        out: Loaded = {
            "request_uid": body["request_uid"],
            "request_type": _member(body["request_type"], REQUEST_TYPES),
            "request_datetime": _time(body["request_datetime"]),
            "location_id": body["location_id"],
            "order_details": _details(body["order_details"]),
            "schedule_type": _member(body.get("schedule_type", "current"), ("current", "future")),
        }
        if "callback_url" in body:
            out["callback_url"] = None
        if "ttl" in body:
            out["ttl"] = None if body["ttl"] is None else _int(body["ttl"], 1, _MAX_TTL)
        for name in ("received_at", "completed_at"):
            if name in body and body[name] is not None:
                _time(body[name])
        if "received_at" in body:
            out["received_at"] = body["received_at"]
        return out
    except _Refuse:
        return None
