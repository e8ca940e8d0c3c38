"""PAR's x-pch-digest recipe as pure functions (posnext-api.md, "Authentication and signing").

message = RequestUid|LocationId|OnlineOrderId|GrandTotalCents|SubtotalCents|ReceivedAtSeconds
key     = the first 10 characters of PAR's SharedId
digest  = lowercase hex HMAC-SHA256 of the UTF-8 message
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from app.times import parse_time


def _id(value: object) -> str:
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return "0"
    return str(value)


def _cents(value: object) -> str:
    """Money times 100, truncated toward zero, in decimal arithmetic (floats go through str)."""
    if value is None or isinstance(value, bool):
        return "0"
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite():
            return "0"
        return str(int((amount * 100).quantize(Decimal(1), rounding=ROUND_DOWN)))
    except (InvalidOperation, ValueError):
        return "0"


def _seconds(value: object) -> str:
    moment = parse_time(value)
    return str(int(moment.timestamp())) if moment else "0"


def digest_message(body: Mapping) -> str:
    details = body.get("order_details")
    details = details if isinstance(details, Mapping) else {}
    return "|".join(
        (
            _id(body.get("request_uid")),
            _id(body.get("location_id")),
            _id(details.get("online_order_id")),
            _cents(details.get("grand_total")),
            _cents(details.get("subtotal")),
            _seconds(body.get("request_datetime")),
        )
    )


def sign(key: bytes, body: Mapping) -> str:
    return hmac.new(key, digest_message(body).encode("utf-8"), hashlib.sha256).hexdigest()


def ambiguous(body: Mapping) -> bool:
    """Whether an id holds the separator: `a|b` + `c` and `a` + `b|c` would share one message,
    so two different orders one digest. The schema refuses such ids; verify() refuses them too."""
    details = body.get("order_details")
    details = details if isinstance(details, Mapping) else {}
    return any(
        "|" in _id(value)
        for value in (body.get("request_uid"), body.get("location_id"), details.get("online_order_id"))
    )


def verify(key: bytes, body: Mapping, digest: str | None) -> bool:
    if not digest or ambiguous(body):
        return False
    # bytes: compare_digest refuses str with non-ASCII characters (a header may carry any)
    return hmac.compare_digest(sign(key, body).encode(), digest.strip().lower().encode("utf-8", "replace"))


def key_from_shared_id(shared_id: str) -> bytes:
    if len(shared_id) < 10:
        raise ValueError("SharedId must be at least 10 characters")
    return shared_id[:10].encode("utf-8")
