"""Turning marshmallow's error dictionaries into the envelope's error list."""

from __future__ import annotations

MAX_ERRORS = 50  # errors listed in one answer; the rest are counted in a last entry


def flatten(messages: object, prefix: str = "", limit: int = MAX_ERRORS) -> list[dict[str, str]]:
    """{'order_details': {'items': {0: {'id': ['Missing']}}}} -> [{field: 'order_details.items.0.id', ...}],
    at most `limit` of them and a last `too_many_errors` entry counting the rest."""
    out = _flatten(messages, prefix)
    if len(out) > limit:
        more = len(out) - limit
        out = [*out[:limit], {"code": "too_many_errors", "message": f"{more} more errors not listed"}]
    return out


def _item(message: str, field: str) -> dict[str, str]:
    """One error; `field` left out when the error is the body's own (no prefix)."""
    return (
        {"code": "schema_invalid", "message": message, "field": field}
        if field
        else {"code": "schema_invalid", "message": message}
    )


def _flatten(messages: object, prefix: str = "") -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            out.append(_item(message, prefix))
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out.append(_item(str(messages), prefix))
    return out
