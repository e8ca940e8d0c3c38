"""Field types shared by the schemas."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields

from app.times import parse_time

MAX_MONEY = Decimal("1000000")


class Money(fields.Field):
    """A JSON number with at most two decimals, read as a Decimal, never a float."""

    default_error_messages = {
        "invalid": "must be a JSON number",
        "places": "must have at most two decimals",
        "range": "must be between 0 and 1000000",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            raise self.make_error("places")
        if not Decimal(0) <= amount <= MAX_MONEY:
            raise self.make_error("range")
        return amount.quantize(Decimal("0.01"))

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class Timestamp(fields.String):
    """An ISO 8601 time with a zone (PAR sends `yyyy-MM-ddTHH:mm:ss.fffZ`); kept as sent."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if parse_time(text) is None:
            raise ValidationError("must be an ISO 8601 time with a zone, e.g. 2026-11-23T18:30:00.000Z")
        return text


def Id(**kwargs):  # noqa: N802 - reads like a field type
    """A non-empty identifier of reasonable length."""
    from marshmallow import validate

    return fields.String(validate=validate.Length(min=1, max=128), **kwargs)
