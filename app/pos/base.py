"""The interface every POS adapter implements, and the outcomes it maps answers to.

A new vendor's API fits beside rest.py without touching the API layer or the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
class Transient:
    """429, 5xx, a reset or a timeout: the order may or may not exist at the POS."""

    reason: str
    ambiguous: bool = True


Outcome = Placed | Refused | InProgress | Transient


class PosUnavailable(Exception):
    """A read (location, menu, lookup) could not be answered."""


class LocationUnknown(Exception):
    pass


class PosAdapter(Protocol):
    def get_location(self, location_id: str) -> dict: ...

    def get_menu(self, location_id: str) -> dict: ...

    def place_order(self, key: str, body: dict, timeout: float | None = None) -> Outcome: ...

    def find_order(self, external_id: str) -> Placed | None: ...
