"""Field types shared by the schemas."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from marshmallow import ValidationError, fields, validate

from app.times import parse_time
from schemas.errors import MAX_ERRORS

MAX_MONEY = Decimal("1000000")
MAX_LINES = 200  # an order's lines
MAX_CHILDREN = 50  # one line's children
T = TypeVar("T")


class Money(fields.Field[Decimal]):
    """A JSON number with at most two decimals, read as a Decimal, never a float."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own class attribute, declared by Field
        "invalid": "must be a JSON number",
        "places": "must have at most two decimals",
        "range": "must be between 0 and 1000000",
    }

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: object
    ) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        exponent = amount.as_tuple().exponent  # an int: the amount is finite
        if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            raise self.make_error("places")
        if not Decimal(0) <= amount <= MAX_MONEY:
            raise self.make_error("range")
        return amount.quantize(Decimal("0.01"))

    def _serialize(self, value: Decimal | None, attr: str | None, obj: object, **kwargs: object) -> Decimal | None:
        return value


class Timestamp(fields.String):
    """An ISO 8601 time with a zone (PAR sends `yyyy-MM-ddTHH:mm:ss.fffZ`); kept as sent."""

    def _deserialize(self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: object) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if parse_time(text) is None:
            raise ValidationError("must be an ISO 8601 time with a zone, e.g. 2026-11-23T18:30:00.000Z")
        return text


def Id(*, required: bool = False) -> fields.String:  # noqa: N802 - reads like a field type
    """A non-empty identifier of reasonable length (an item's id: the POS's, any characters)."""
    return fields.String(validate=validate.Length(min=1, max=128), required=required)


KEY_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
KEY_RULE = "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -"


def is_key(value: object) -> bool:
    """An id of the key character set (posnext-api.md, "Request body")."""
    return isinstance(value, str) and KEY_PATTERN.fullmatch(value) is not None


class Key(fields.String):
    """request_uid and location_id: 1-128 characters of `A-Z a-z 0-9 . _ ~ -`, so an id can never
    name another Redis key (`:`), a URL path (`/`), split the digest's message (`|`) or a log line."""

    def _deserialize(self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: object) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_key(text):
            raise ValidationError(KEY_RULE)
        return text


class BoundedList(fields.List[T]):
    """A list whose length is checked before any element is (6,500 bad items cost one error, not
    19,500 errors and 430 ms of work), and whose elements are checked only until more than
    MAX_ERRORS errors are built: an answer lists no more (200 lines x 50 children of `{}` built
    30,000 errors, 474 ms, for an answer of 50)."""

    def __init__(
        self,
        cls_or_instance: fields.Field[T] | type[fields.Field[T]],
        *,
        max_length: int,
        too_many: str | None = None,
        **kwargs: Any,  # Field's own options (required, load_default, validate, ...)
    ) -> None:
        super().__init__(cls_or_instance, **kwargs)
        self.max_length = max_length
        self.too_many = too_many or f"at most {max_length} entries"

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> list[T | None]:
        if not isinstance(value, list):
            return super()._deserialize(value, attr, data, **kwargs)
        if len(value) > self.max_length:
            raise ValidationError(self.too_many)
        result: list[T | None] = []
        errors: dict[int, object] = {}
        built = 0
        for index, each in enumerate(value):
            try:
                result.append(self.inner.deserialize(each, **kwargs))
            except ValidationError as error:
                if error.valid_data is not None:
                    result.append(cast(T, error.valid_data))  # the element's valid part (Nested: a partial dict)
                errors[index] = error.messages
                built += count_messages(error.messages)
                if built > MAX_ERRORS:
                    break
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result


def count_messages(messages: object) -> int:
    """How many error messages a marshmallow error dictionary holds (each already bounded)."""
    if isinstance(messages, dict):
        return sum(count_messages(value) for value in messages.values())
    if isinstance(messages, list):
        return sum(count_messages(value) for value in messages) if messages else 0
    return 1


def first_cap(items: object) -> dict[str, object] | None:
    """The error of the first cap an order's lines break (how many lines, how many children of
    one line), found by counting before any line is checked; None when within them all."""
    if not isinstance(items, list):
        return None
    if len(items) > MAX_LINES:
        return {"items": [f"at most {MAX_LINES} entries"]}
    for index, line in enumerate(items):
        children = line.get("children") if isinstance(line, dict) else None
        if isinstance(children, list) and len(children) > MAX_CHILDREN:
            return {"items": {index: {"children": [f"at most {MAX_CHILDREN} entries"]}}}
    return None


def port_problem(url: str) -> str | None:
    """Why a URL's port or host cannot be called, or None (urlparse's .port raises on 99999)."""
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        return "the port must be a number from 1 to 65535"
    if port == 0:
        return "the port must be a number from 1 to 65535"
    if not parsed.hostname:
        return "the URL needs a host"
    return None
