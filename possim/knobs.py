"""Knobs: per-location behaviour of the simulated POS, as plain dicts (no Flask, no locks).

Knobs are stored as ``{"*": entry, location_id: entry, ...}``. An entry holds any of the fields
of ``DEFAULTS``; a location's effective knobs are the defaults, overridden by the ``"*"`` entry,
overridden field by field by the location's own entry (``items`` item by item). A patch is a
JSON merge patch (RFC 7386): a field set to ``null`` is removed from the entry, so it falls
back to the ``"*"`` entry or the default.
"""

import copy
import math

STAR = "*"

DEFAULTS = {
    "latency_ms": 0,  # POST /orders sleeps this long before creating the order; above the client's
    #                   connect + read timeout it is "slower than the read timeout": the call times
    #                   out, and the order is still created (or refused as expired) when the sleep ends
    "latency_jitter_ms": 0,  # plus a uniform random 0..jitter
    "error_rate": 0.0,  # share of POST /orders answering error_status, nothing created
    "error_status": 503,
    "ambiguous_error_rate": 0.0,  # share of POST /orders that create the order, then answer 500
    "down": False,  # every endpoint of the location answers 503 at once
    "hang_seconds": 0.0,  # POST /orders sleeps this long, then answers 503, nothing created
    "lookup_down": False,  # GET /orders?external_id= answers 503 (POSTs go on as the other knobs say)
    "lookup_latency_ms": 0,  # GET /orders?external_id= sleeps this long before it answers
    "accepting_orders": None,  # None: the seeded value
    "honour_not_after": True,  # false: create an order after its not_after (a POS without the field)
    "void_window_ms": 300_000,  # an order can be voided this long after its creation (0: never)
    "items": {},  # item_id -> available, overriding the seeded menu
}


class KnobError(ValueError):
    """A knob patch that names an unknown field or carries a value of the wrong type."""


def _number(low, high):
    def check(name, value, _item_ids):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise KnobError(f"{name} must be a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise KnobError(f"{name} must be between {low} and {high}")

    return check


def _boolean(name, value, _item_ids):
    if not isinstance(value, bool):
        raise KnobError(f"{name} must be true or false")


def _status(name, value, _item_ids):
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise KnobError(f"{name} must be an integer HTTP status between 400 and 599")


def _items(name, value, item_ids):
    if not isinstance(value, dict):
        raise KnobError(f"{name} must be an object of item_id: true|false")
    for item_id, available in value.items():
        if item_id not in item_ids:
            raise KnobError(f"{name}: unknown item {item_id!r}")
        if available is not None and not isinstance(available, bool):
            raise KnobError(f"{name}.{item_id} must be true, false or null")


_CHECKS = {
    "latency_ms": _number(0, 3_600_000),
    "latency_jitter_ms": _number(0, 3_600_000),
    "error_rate": _number(0, 1),
    "error_status": _status,
    "ambiguous_error_rate": _number(0, 1),
    "down": _boolean,
    "hang_seconds": _number(0, 3600),
    "lookup_down": _boolean,
    "lookup_latency_ms": _number(0, 3_600_000),
    "accepting_orders": _boolean,
    "honour_not_after": _boolean,
    "void_window_ms": _number(0, 86_400_000),
    "items": _items,
}


def validate_patch(patch, item_ids) -> None:
    """Raise KnobError unless ``patch`` is a valid merge patch for one entry."""
    if not isinstance(patch, dict):
        raise KnobError("knobs must be a JSON object")
    for name, value in patch.items():
        if name not in _CHECKS:
            raise KnobError(f"unknown knob {name!r}; known: {', '.join(DEFAULTS)}")
        if value is not None:
            _CHECKS[name](name, value, item_ids)


def merge(entry: dict, patch: dict) -> dict:
    """The entry with ``patch`` applied (a new dict; ``entry`` is left as it was)."""
    out = copy.deepcopy(entry)
    for name, value in patch.items():
        if name == "items" and value is not None:
            items = out.setdefault("items", {})
            for item_id, available in value.items():
                if available is None:
                    items.pop(item_id, None)
                else:
                    items[item_id] = available
            if not items:
                del out["items"]
        elif value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def effective(knobs: dict, location_id: str) -> dict:
    """The knobs that apply to ``location_id`` (any id, known or not)."""
    star = knobs.get(STAR, {})
    own = knobs.get(location_id, {}) if location_id != STAR else {}
    out = {**DEFAULTS, **star, **own}
    out["items"] = {**star.get("items", {}), **own.get("items", {})}
    return out
