"""The interface every POS adapter implements, and the outcomes it maps answers to.

The engine hands an adapter the order's record (the request as PAR sent it, with its totals)
and the order's deadline; the adapter builds its vendor's wire body itself. A menu comes back
in the service's own shape (`Menu` below), whatever the vendor's. A new vendor's adapter fits
beside rest.py (app/pos/__init__.py chooses one from POS_ADAPTER) without touching the API
layer, the engine or the workers; tests/unit/app/pos/test_contract.py holds every adapter to
this contract.

Every call is bounded as a whole by its `timeout` (seconds): no call outlives the time its
caller has left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypedDict


@dataclass(frozen=True)
class Placed:
    pos_order_id: str
    total_cents: int | None = None
    replayed: bool = False  # the POS had this key already (200, or found by lookup)


@dataclass(frozen=True)
class Refused:
    code: str
    message: str


@dataclass(frozen=True)
class InProgress:
    """Another call with this key is still being processed at the POS."""


@dataclass(frozen=True)
class Expired:
    """The POS refused to create the order after its `not_after`: none exists, none ever will."""


@dataclass(frozen=True)
class Transient:
    """429, 5xx, a reset or a timeout: the order may or may not exist at the POS
    (`ambiguous` False: the call never reached it, e.g. the connection was refused)."""

    reason: str
    ambiguous: bool = True


@dataclass(frozen=True)
class KeyUsed:
    """The POS has an order under this key already (`idempotency_key_reused`): the key is always
    the engine's own request_uid, so this means "look it up", never a refusal."""


Outcome = Placed | Refused | InProgress | Expired | Transient | KeyUsed


class PosUnavailable(Exception):
    """A read (menu, lookup) could not be answered."""


class LocationUnknown(Exception):
    pass


class MenuItem(TypedDict, total=False):
    id: str
    name: str
    item_type: str  # Item, Modifier, Discount, Combo, Promotion, Memo
    price: int  # minor units
    available: bool
    modifier_groups: list[dict]  # {"id", "name", "min", "max", "modifier_ids": [...]}


class Menu(TypedDict, total=False):
    """A location and its menu as the engine reads them (app/orders/rules.py)."""

    location_id: str
    location: dict  # at least accepting_orders (bool) and tax_rate (decimal string)
    updated_at: str | None
    items: dict[str, MenuItem]


class PosAdapter(Protocol):
    def get_menu(self, location_id: str, timeout: float | None = None) -> Menu:
        """The location and its menu; LocationUnknown, or PosUnavailable."""

    def order_body(self, order: dict, not_after: float) -> bytes:
        """The vendor's create request for the order's record and deadline: built once by the
        engine when the order is validated, stored, and sent byte for byte by every POST."""

    def send_order(self, key: str, body: bytes, timeout: float) -> Outcome:
        """Create the order from `body` under `key` (its request_uid) as the idempotency key."""

    def find_order(self, external_id: str, timeout: float | None = None) -> Placed | None:
        """The order created under this request_uid, None if the POS has none; PosUnavailable."""
