"""The seeded chain as Square shows it: Locations, and one seller-wide catalog (ITEMs with one
ITEM_VARIATION each, whose id is the menu's item id; MODIFIER_LISTs from the modifier groups;
a DISCOUNT; a TAX per location). Availability (the seed and the `items` knobs) is a variation's or
a modifier's `location_overrides[].sold_out`; `accepting_orders` is the location's status.
Promotions have no Square catalog object and are left out; a Combo is shown as an ITEM."""

from decimal import Decimal

from possim.ledger import Ledger


def location_ids(ledger: Ledger) -> list[str]:
    return sorted(ledger.knobs_view()["effective"])


def location(ledger: Ledger, location_id: str) -> dict | None:
    seen = ledger.location(location_id)
    if seen is None:
        return None
    return {
        "id": location_id,
        "name": seen["name"],
        "business_name": seen["name"],
        "type": "PHYSICAL",
        "status": "ACTIVE" if seen["accepting_orders"] else "INACTIVE",
        "timezone": seen["timezone"],
        "currency": seen["currency"],
        "country": "US",
    }


def _money(cents: int, currency: str = "USD") -> dict:
    return {"amount": cents, "currency": currency}


def catalog(ledger: Ledger) -> list[dict]:
    """Every catalog object, for ListCatalog."""
    ids = location_ids(ledger)
    menus = {loc: ledger.menu(loc) for loc in ids}
    stamp = max(m["updated_at"] for m in menus.values())
    menu = menus[ids[0]]["items"]

    def overrides(item_id: str) -> list[dict]:
        return [
            {"location_id": loc, "sold_out": True}
            for loc in ids
            if not next((i["available"] for i in menus[loc]["items"] if i["id"] == item_id), True)
        ]

    def obj(kind: str, object_id: str, **data) -> dict:
        return {
            "type": kind,
            "id": object_id,
            "updated_at": stamp,
            "version": 1,
            "is_deleted": False,
            "present_at_all_locations": True,
            **data,
        }

    by_id = {item["id"]: item for item in menu}
    groups = {g["id"]: g for item in menu for g in item.get("modifier_groups") or []}
    objects = []
    for group in groups.values():
        modifiers = [
            obj(
                "MODIFIER",
                m,
                modifier_data={
                    "name": by_id[m]["name"],
                    "price_money": _money(by_id[m]["price"]),
                    "modifier_list_id": group["id"],
                    "location_overrides": overrides(m),
                },
            )
            for m in group["modifier_ids"]
            if m in by_id
        ]
        objects.append(
            obj(
                "MODIFIER_LIST",
                group["id"],
                modifier_list_data={
                    "name": group["name"],
                    "min_selected_modifiers": group.get("min", 0),
                    "max_selected_modifiers": -1 if group.get("max") is None else group["max"],
                    "modifiers": modifiers,
                },
            )
        )
    for item in menu:
        if item["item_type"] in ("Item", "Combo"):
            variation = obj(
                "ITEM_VARIATION",
                item["id"],
                item_variation_data={
                    "item_id": f"{item['id']}-item",
                    "name": "Regular",
                    "pricing_type": "FIXED_PRICING",
                    "price_money": _money(item["price"]),
                    "location_overrides": overrides(item["id"]),
                },
            )
            objects.append(
                obj(
                    "ITEM",
                    f"{item['id']}-item",
                    item_data={
                        "name": item["name"],
                        "variations": [variation],
                        "modifier_list_info": [
                            {"modifier_list_id": g["id"], "enabled": True} for g in item.get("modifier_groups") or []
                        ],
                    },
                )
            )
        elif item["item_type"] == "Discount":
            objects.append(
                obj(
                    "DISCOUNT",
                    item["id"],
                    discount_data={
                        "name": item["name"],
                        "discount_type": "FIXED_AMOUNT",
                        "amount_money": _money(item["price"]),
                    },
                )
            )
    for loc in ids:
        rate = Decimal(str(ledger.location(loc)["tax_rate"])) * 100
        objects.append(
            obj(
                "TAX",
                f"tax-{loc}",
                present_at_all_locations=False,
                present_at_location_ids=[loc],
                tax_data={
                    "name": "Sales tax",
                    "percentage": str(rate.normalize()),
                    "enabled": True,
                    "calculation_phase": "TAX_SUBTOTAL_PHASE",
                    "inclusion_type": "ADDITIVE",
                },
            )
        )
    return objects
