"""A Square location and its catalog as base.Menu, a pure function. From Square's documentation:

- Location (`status` ACTIVE or INACTIVE, `timezone`, `currency`):
  https://developer.squareup.com/reference/square/objects/Location
- the catalog (ListCatalog objects of type ITEM, whose ITEM_VARIATIONs carry the price and are
  what an order's line item names; MODIFIER_LIST with MODIFIERs; TAX with a `percentage`;
  DISCOUNT), each present at all locations or at some (`present_at_location_ids`,
  `absent_at_location_ids`), a variation sold out at a location by `location_overrides`:
  https://developer.squareup.com/docs/catalog-api/design-a-catalog
  https://developer.squareup.com/reference/square_2020-09-23/objects/CatalogModifierList
  and the min/max selected modifiers that replaced `selection_type` (API 2025-05-21):
  https://developer.squareup.com/forums/t/catalog-api-update/23681

The service's menu is keyed by what an order names: variation ids for items (one item with
several variations gives one entry each), modifier ids, discount ids.
"""

from __future__ import annotations

from decimal import Decimal

from app.jsonio import Json
from app.pos.base import Menu, MenuItem, ModifierGroup


def _here(obj: Json, location_id: str) -> bool:
    """The catalog object is present at the Square location."""
    if obj.get("is_deleted"):
        return False
    if location_id in (obj.get("absent_at_location_ids") or []):
        return False
    return bool(obj.get("present_at_all_locations", True)) or location_id in (obj.get("present_at_location_ids") or [])


def _amount(money: object) -> int:
    amount = money.get("amount") if isinstance(money, dict) else None
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else 0


def _sold_out(data: Json, location_id: str) -> bool:
    return any(
        o.get("sold_out")
        for o in data.get("location_overrides") or []
        if isinstance(o, dict) and o.get("location_id") == location_id
    )


def _limits(info: Json, listed: Json) -> tuple[int, int | None]:
    """min and max selected modifiers: the item's override, else the list's; -1 means unset."""

    def pick(name: str) -> int | None:
        for source in (info, listed):
            value = source.get(name)
            if isinstance(value, int) and value >= 0:
                return value
        return None

    high = pick("max_selected_modifiers")
    if high is None and listed.get("selection_type") == "SINGLE":
        high = 1
    return pick("min_selected_modifiers") or 0, high


def tax_rate(objects: list[Json], location_id: str) -> str:
    """The location's tax as the decimal rate the engine computes with ("8.25" % → "0.0825")."""
    total = sum(
        (
            Decimal(str((o.get("tax_data") or {}).get("percentage") or "0"))
            for o in objects
            if o.get("type") == "TAX" and _here(o, location_id) and (o.get("tax_data") or {}).get("enabled", True)
        ),
        Decimal(0),
    )
    return str((total / 100).normalize()) if total else "0"


def normalise_menu(par_location_id: str, location: Json, objects: list[Json]) -> Menu:
    """RetrieveLocation's `location` and ListCatalog's objects as base.Menu."""
    square_id = str(location.get("id") or "")
    objects = [o for o in objects if isinstance(o, dict)]
    lists = {
        o["id"]: o.get("modifier_list_data") or {}
        for o in objects
        if o.get("type") == "MODIFIER_LIST" and o.get("id") and _here(o, square_id)
    }
    items: dict[str, MenuItem] = {}
    for list_data in lists.values():
        for modifier in list_data.get("modifiers") or []:
            data = modifier.get("modifier_data") or {}
            if modifier.get("id") and _here(modifier, square_id):
                items[modifier["id"]] = {
                    "id": modifier["id"],
                    "name": data.get("name", ""),
                    "item_type": "Modifier",
                    "price": _amount(data.get("price_money")),
                    "available": not _sold_out(data, square_id),
                }
    for obj in objects:
        if obj.get("type") == "DISCOUNT" and obj.get("id") and _here(obj, square_id):
            data = obj.get("discount_data") or {}
            if data.get("discount_type") == "FIXED_AMOUNT":
                items[obj["id"]] = {
                    "id": obj["id"],
                    "name": data.get("name", ""),
                    "item_type": "Discount",
                    "price": _amount(data.get("amount_money")),
                    "available": True,
                }
        if obj.get("type") != "ITEM" or not _here(obj, square_id):
            continue
        data = obj.get("item_data") or {}
        groups: list[ModifierGroup] = []
        for info in data.get("modifier_list_info") or []:
            listed = lists.get(info.get("modifier_list_id"))
            if listed is None or info.get("enabled") is False:
                continue
            low, high = _limits(info, listed)
            groups.append(
                {
                    "id": info["modifier_list_id"],
                    "name": listed.get("name", ""),
                    "min": low,
                    "max": high,
                    "modifier_ids": [m["id"] for m in listed.get("modifiers") or [] if m.get("id")],
                }
            )
        variations = [v for v in data.get("variations") or [] if v.get("id") and _here(v, square_id)]
        for variation in variations:
            vdata = variation.get("item_variation_data") or {}
            name = data.get("name", "")
            if len(variations) > 1 and vdata.get("name"):
                name = f"{name} ({vdata['name']})"
            entry: MenuItem = {
                "id": variation["id"],
                "name": name,
                "item_type": "Item",
                "price": _amount(vdata.get("price_money")),
                "available": not _sold_out(vdata, square_id),
            }
            if groups:
                entry["modifier_groups"] = groups
            items[variation["id"]] = entry
    return {
        "location_id": par_location_id,
        "location": {
            "location_id": par_location_id,
            "square_location_id": square_id,
            "name": location.get("name"),
            "accepting_orders": location.get("status") == "ACTIVE",
            "tax_rate": tax_rate(objects, square_id),
            "timezone": location.get("timezone"),
            "currency": location.get("currency"),
        },
        "updated_at": max(
            (str(o["updated_at"]) for o in objects if isinstance(o.get("updated_at"), str)), default=None
        ),
        "items": items,
    }
