"""The simulator's seeded locations and menus: a small, realistic restaurant chain.

A seed is ``{"locations": {location_id: location}}``; each location holds the fields
``GET /locations/{id}`` shows plus ``updated_at`` and ``items`` for its menu. Prices are cents.
"""

import copy

MENU_UPDATED_AT = "2026-11-23T10:00:00Z"

_SIZE = {"id": "grp-size", "name": "Size", "min": 0, "max": 1, "modifier_ids": ["mod-001", "mod-002"]}
_EXTRAS = {"id": "grp-extras", "name": "Extras", "min": 0, "max": 3, "modifier_ids": ["mod-003", "mod-004"]}
_SIDE = {"id": "grp-side", "name": "Side", "min": 1, "max": 1, "modifier_ids": ["mod-005", "mod-006"]}


def _item(item_id, name, item_type, price, available=True, groups=()):
    item = {"id": item_id, "name": name, "item_type": item_type, "price": price, "available": available}
    if groups:
        item["modifier_groups"] = [dict(g, modifier_ids=list(g["modifier_ids"])) for g in groups]
    return item


def _menu():
    return [
        _item("item-001", "Burger", "Item", 899, groups=(_SIZE, _EXTRAS)),
        _item("item-002", "Fries", "Item", 349, groups=(_SIZE,)),
        _item("item-003", "Soda", "Item", 199),
        _item("item-004", "Salad", "Item", 749, available=False),
        _item("combo-001", "Burger Combo", "Combo", 1299, groups=(_SIDE,)),
        _item("mod-001", "Large", "Modifier", 150),
        _item("mod-002", "Small", "Modifier", 0),
        _item("mod-003", "Bacon", "Modifier", 200),
        _item("mod-004", "Cheese", "Modifier", 100),
        _item("mod-005", "Side Fries", "Modifier", 0),
        _item("mod-006", "Side Salad", "Modifier", 100),
        _item("disc-001", "$2 off", "Discount", 200),
        _item("promo-001", "Happy hour", "Promotion", 300),
    ]


def _location(name, timezone, tax_rate, accepting_orders):
    return {
        "name": name,
        "accepting_orders": accepting_orders,
        "timezone": timezone,
        "tax_rate": tax_rate,
        "currency": "USD",
        "updated_at": MENU_UPDATED_AT,
        "items": _menu(),
    }


SEED = {
    "locations": {
        "loc-001": _location("Main St", "America/New_York", "0.0825", True),
        "loc-002": _location("Harbor", "America/Chicago", "0.0600", True),
        "loc-003": _location("Airport", "America/New_York", "0.0700", False),
    },
}


def default_seed() -> dict:
    """A fresh copy of the seed, safe to change."""
    return copy.deepcopy(SEED)
