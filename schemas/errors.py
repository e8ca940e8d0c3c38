"""Turning marshmallow's error dictionaries into the envelope's error list."""

from __future__ import annotations


def flatten(messages, prefix: str = "") -> list[dict]:
    """{'order_details': {'items': {0: {'id': ['Missing']}}}} -> [{field: 'order_details.items.0.id', ...}]."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            out.append({"code": "schema_invalid", "message": message, "field": prefix or None})
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out.append({"code": "schema_invalid", "message": str(messages), "field": prefix or None})
    for item in out:
        if item.get("field") is None:
            item.pop("field", None)
    return out
