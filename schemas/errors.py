"""Turning marshmallow's error dictionaries into the envelope's error list."""

from __future__ import annotations

MAX_ERRORS = 50  # errors listed in one answer; the rest are counted in a last entry


def flatten(messages, prefix: str = "", limit: int = MAX_ERRORS) -> list[dict]:
    """{'order_details': {'items': {0: {'id': ['Missing']}}}} -> [{field: 'order_details.items.0.id', ...}],
    at most `limit` of them and a last `too_many_errors` entry counting the rest."""
    out = _flatten(messages, prefix)
    if len(out) > limit:
        more = len(out) - limit
        out = [*out[:limit], {"code": "too_many_errors", "message": f"{more} more errors not listed"}]
    return out


def _flatten(messages, prefix: str = "") -> list[dict]:
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            out.append({"code": "schema_invalid", "message": message, "field": prefix or None})
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out.append({"code": "schema_invalid", "message": str(messages), "field": prefix or None})
    for item in out:
        if item.get("field") is None:
            item.pop("field", None)
    return out
