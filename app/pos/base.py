"""The interface every POS adapter implements, and the outcomes it maps answers to.

The engine hands an adapter the order's record (the request as PAR sent it, with its totals)
and the order's deadline; the adapter builds its vendor's wire body itself (`order_body`, once,
from the stored record: the engine stores those bytes and sends them on every POST, so every
retry under the key is byte for byte the same call). A menu comes back
in the service's own shape (`Menu` below), whatever the vendor's. A new vendor's adapter fits
beside rest.py (app/pos/__init__.py chooses one from POS_ADAPTER) without touching the API
layer, the engine or the workers; tests/unit/app/pos/test_contract.py holds every adapter to
this contract.

Every call is bounded as a whole by its `timeout` (seconds): no call outlives the time its
caller has left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from app.jsonio import Json

OrderRecord = Json  # the engine's stored order (app/orders/order.py): PAR's request, its totals
VoidBy = Literal["key", "pos_order_id", "none"]


@dataclass(frozen=True)
class Placed:
    """An order at the POS. From a POST it is always a live order. From find_order, `voided`
    True means the POS made it and then voided it: no live order, and none ever will be."""

    pos_order_id: str
    total_cents: int | None = None
    replayed: bool = False  # the POS had this key already (200, or found by lookup)
    created_at: float | None = None  # Unix seconds, as the POS recorded the creation (None: not said)
    voided: bool = False


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
class KeyUsed:
    """The POS has an order under this key made from another body (its 422
    idempotency_key_reused). The key is always the engine's own request_uid, so this is never a
    refusal: look the order up."""


@dataclass(frozen=True)
class VoidedKey:
    """The key was closed by a void (422 voided): no order exists under it, and none ever will."""


@dataclass(frozen=True)
class Voided:
    """void_order: no live order exists under the key and none ever will (`pos_order_id` None:
    none was ever made)."""

    pos_order_id: str | None


@dataclass(frozen=True)
class NotVoidable:
    """void_order: an order exists and the POS will no longer void it (the kitchen has it)."""

    message: str


@dataclass(frozen=True)
class Transient:
    """429, 5xx, a reset or a timeout: the order may or may not exist at the POS
    (`ambiguous` False: the call never reached it, e.g. the connection was refused)."""

    reason: str
    ambiguous: bool = True


Outcome = Placed | Refused | InProgress | Expired | KeyUsed | VoidedKey | Transient


class PosUnavailable(Exception):
    """A read (menu, lookup) or a void could not be answered: transient, ask again."""


class LocationUnknown(Exception):
    pass


class ModifierGroup(TypedDict):
    id: str
    name: str
    min: int
    max: int | None  # None: no upper bound
    modifier_ids: list[str]


class MenuItem(TypedDict, total=False):
    id: str
    name: str
    item_type: str  # Item, Modifier, Discount, Combo, Promotion, Memo
    price: int  # minor units
    available: bool
    modifier_groups: list[ModifierGroup]


class Menu(TypedDict, total=False):
    """A location and its menu as the engine reads them (app/orders/rules.py)."""

    location_id: str
    location: Json  # at least accepting_orders (bool) and tax_rate (decimal string)
    updated_at: str | None
    items: dict[str, MenuItem]


class PosAdapter(Protocol):
    """What the adapter's POS does, declared (the engine reads these, never the vendor's name):
    `enforces_not_after`: the POS refuses to create an order after its `not_after`, so "never
    placed late" holds at the POS; False: the engine must look for late placements and void them.
    `voids`: "key" (void by the idempotency key, even before an order exists: the key is
    closed), "pos_order_id" (only a made order, by its POS id: the adapter looks it up itself),
    or "none" (void_order always answers NotVoidable)."""

    enforces_not_after: bool
    voids: VoidBy

    def get_menu(self, location_id: str, timeout: float | None = None) -> Menu:
        """The location and its menu; LocationUnknown, or PosUnavailable."""

    def order_body(self, order: OrderRecord, not_after: float) -> bytes:
        """The wire body that creates the order (its record) never after `not_after` (Unix
        seconds). Deterministic: the same record and deadline give the same bytes."""

    def send_order(self, key: str, body: bytes, timeout: float) -> Outcome:
        """POST `body` (from order_body) as it is, with `key` (the request_uid) as the
        idempotency key."""

    def place_order(self, order: OrderRecord, not_after: float, timeout: float) -> Outcome:
        """send_order(order["request_uid"], order_body(order, not_after), timeout): for the
        engine of today, which builds the body on every call."""

    def find_order(self, external_id: str, timeout: float | None = None) -> Placed | None:
        """The order created under this request_uid (with `voided` True if the POS voided it),
        None if the POS has none; PosUnavailable."""

    def void_order(self, external_id: str, reason: str, timeout: float) -> Voided | NotVoidable:
        """Void the order made under this request_uid, or when none exists yet (and the POS
        voids by key) close the key so that no POST under it can still make one; PosUnavailable
        when the POS cannot answer (retry: a void is idempotent). With voids "pos_order_id",
        Voided(None) only says no order exists now: the key is not closed, keep looking."""
