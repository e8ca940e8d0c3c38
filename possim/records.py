"""The ledger's small value types and the shapes of its order answers. Pure, no state."""

from dataclasses import dataclass
from datetime import UTC, datetime

ACCEPTED, VOIDED = "accepted", "voided"


@dataclass(frozen=True)
class Claim:
    """What ``Ledger.claim`` found: ``new`` (the caller holds the key now), ``replay`` (same
    body, ``order`` is the order it made), ``reused`` (another body), ``in_progress``, or
    ``voided`` (the key was closed by a void: nothing is, or will be, made under it)."""

    kind: str
    key: str
    body_hash: str
    order: dict | None = None
    token: object | None = None


@dataclass(frozen=True)
class Placement:
    """What ``Ledger.place`` did: ``order`` when created, else a refusal ``code`` and ``message``."""

    order: dict | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Void:
    """What ``Ledger.void`` did: ``voided`` (``pos_order_id`` of the order voided, None when the
    key was closed before any order) or ``not_voidable`` with a ``message``."""

    code: str
    pos_order_id: str | None = None
    message: str | None = None


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def order_answer(order: dict) -> dict:
    """The body of the 201 (and of the 200 replay, and each of a lookup's) for an order."""
    return {
        "pos_order_id": order["pos_order_id"],
        "external_id": order["external_id"],
        "status": order["status"],
        "total": order["total"],
        "created_at": order["created_at"],
    }


def order_item_ids(items) -> list[str]:
    """Every item id in an order's items and their children, depth first."""
    ids = []
    for item in items:
        ids.append(item["id"])
        ids.extend(order_item_ids(item.get("children") or []))
    return ids
