"""The shape of a POST /orders body (pos-api.md) and its canonical hash. Pure functions."""

import hashlib
import json
import re
from datetime import UTC, datetime

TOTALS = ("subtotal", "discount_total", "tax", "tip", "grand_total")
MAX_DEPTH = 5  # items, their children, and so on
NOT_AFTER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # yyyy-MM-ddTHH:mm:ss.fffZ


class BodyError(ValueError):
    """A body that does not have the contract's shape."""


def body_hash(body) -> str:
    """SHA-256 of the canonical JSON of ``body``: equal for equal bodies, whatever key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, where, optional=False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or (not optional and not value):
        raise BodyError(f"{where} must be a {'string' if optional else 'non-empty string'}")


def _items(items, where, depth) -> None:
    if not isinstance(items, list):
        raise BodyError(f"{where} must be an array")
    if depth > MAX_DEPTH:
        raise BodyError(f"{where} nests deeper than {MAX_DEPTH} levels")
    for n, item in enumerate(items):
        at = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise BodyError(f"{at} must be an object")
        _text(item.get("id"), f"{at}.id")
        _text(item.get("item_type"), f"{at}.item_type")
        if not _is_int(item.get("quantity")) or item["quantity"] < 1:
            raise BodyError(f"{at}.quantity must be an integer >= 1")
        if not _is_int(item.get("unit_price")) or item["unit_price"] < 0:
            raise BodyError(f"{at}.unit_price must be an integer >= 0 (cents)")
        _text(item.get("note"), f"{at}.note", optional=True)
        _items(item.get("children") or [], f"{at}.children", depth + 1)


def check_order_body(body) -> None:
    """Raise BodyError, naming the first bad field, unless ``body`` has the contract's shape."""
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object")
    _text(body.get("external_id"), "external_id")
    _text(body.get("location_id"), "location_id")
    _items(body.get("items"), "items", 1)
    if not body["items"]:
        raise BodyError("items must not be empty")
    totals = body.get("totals")
    if not isinstance(totals, dict):
        raise BodyError("totals must be an object")
    for name in TOTALS:
        if not _is_int(totals.get(name)) or totals[name] < 0:
            raise BodyError(f"totals.{name} must be an integer >= 0 (cents)")
    for name in ("fulfillment", "customer"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise BodyError(f"{name} must be an object or null")
    _text(body.get("scheduled_for"), "scheduled_for", optional=True)
    not_after(body)


def not_after(body: dict) -> datetime | None:
    """The body's deadline (``not_after``, ISO 8601 UTC with milliseconds), or None when the
    body has none (or null): then the POS creates the order whenever the call gets to it."""
    value = body.get("not_after")
    if value is None:
        return None
    if not isinstance(value, str) or not NOT_AFTER.match(value):
        raise BodyError("not_after must be an ISO 8601 UTC time yyyy-MM-ddTHH:mm:ss.fffZ or null")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise BodyError(f"not_after {value!r} is not a valid time") from None
