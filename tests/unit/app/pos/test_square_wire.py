"""Square's shapes (app/pos/square_wire.py, square_menu.py): the CreateOrder body's money,
modifiers, fulfillment and reference, the SearchOrders and cancel bodies, a catalog as a menu."""

from __future__ import annotations

import json
from decimal import Decimal

from app.orders.order import new_record
from app.pos import square_menu, square_wire
from app.pos.base import Placed
from app.times import parse_time
from tests.support.factories import sample_order, with_totals

NOT_AFTER = 1_795_457_700.0


def record(uid="ord-1", **overrides):
    return new_record(sample_order(uid=uid, **overrides), 1_795_456_800.0)


def body(order=None, location="L-SQ-1", currency="USD") -> dict:
    return json.loads(square_wire.order_body(order or record(), NOT_AFTER, location, currency))


def test_money_is_minor_units_with_the_currency_and_quantities_are_strings():
    lines = body(currency="CAD")["order"]["line_items"]
    assert lines[0]["base_price_money"] == {"amount": 899, "currency": "CAD"}  # $8.99
    assert lines[0]["quantity"] == "2" and lines[1]["quantity"] == "1"
    assert lines[1] == {
        "uid": "line-2",
        "catalog_object_id": "item-003",
        "quantity": "1",
        "base_price_money": {"amount": 199, "currency": "CAD"},
    }


def test_children_are_modifiers_and_grandchildren_flattened_into_them():
    order = record()
    burger = order["order_details"]["items"][0]
    burger["children"][0]["children"] = [
        {"id": "mod-003", "name": "Bacon", "item_type": "Modifier", "quantity": 2, "unit_price": Decimal("2.00")}
    ]
    line = body(order)["order"]["line_items"][0]
    assert line["catalog_object_id"] == "item-001" and line["note"] == "no onions"
    assert line["modifiers"] == [
        {
            "uid": "line-1-m1",
            "catalog_object_id": "mod-001",
            "quantity": "1",
            "base_price_money": {"amount": 150, "currency": "USD"},
        },
        {
            "uid": "line-1-m2",
            "catalog_object_id": "mod-003",
            "quantity": "2",
            "base_price_money": {"amount": 200, "currency": "USD"},
        },
    ]


def test_taxes_come_from_the_catalog_a_discount_is_order_scoped_and_the_tip_a_service_charge():
    order = record()
    order["order_details"]["items"].append(
        {"id": "disc-001", "name": "$2 off", "item_type": "Discount", "quantity": 1, "unit_price": Decimal("2.00")}
    )
    with_totals(order)
    sent = body(order)["order"]
    assert sent["pricing_options"] == {"auto_apply_taxes": True} and "taxes" not in sent
    assert sent["discounts"] == [
        {
            "uid": "discount",
            "name": "Discount",
            "type": "FIXED_AMOUNT",
            "amount_money": {"amount": 200, "currency": "USD"},
            "scope": "ORDER",
        }
    ]
    assert sent["service_charges"][0]["amount_money"] == {"amount": 200, "currency": "USD"}
    assert "discounts" not in body()["order"]  # none without a discount


def test_the_order_is_at_the_square_location_with_the_reference_and_the_deadline_kept_not_enforced():
    sent = body(location="L-SQ-1")
    assert sent["idempotency_key"] == "ord-1"
    order = sent["order"]
    assert order["location_id"] == "L-SQ-1" and order["reference_id"] == "ord-1"
    assert order["metadata"] == {"request_uid": "ord-1", "not_after": "2026-11-23T18:15:00.000Z"}
    assert "not_after" not in order


def test_the_fulfillment_is_an_asap_pickup_unless_scheduled():
    asap = body()["order"]["fulfillments"][0]
    assert asap["type"] == "PICKUP" and asap["pickup_details"] == {
        "recipient": {"display_name": "Ana", "phone_number": "+15555550100"},
        "schedule_type": "ASAP",
    }
    future = record()
    future["schedule_type"] = "future"
    future["order_details"]["fulfillment"] = {"mode": "pickup", "promised_at": "2026-11-23T12:00:00.000Z"}
    details = body(future)["order"]["fulfillments"][0]["pickup_details"]
    assert details["schedule_type"] == "SCHEDULED" and details["pickup_at"] == "2026-11-23T12:00:00.000Z"


def test_a_long_request_uid_is_a_40_character_reference_and_matched_through_the_metadata():
    uid = "u" * 128
    reference = square_wire.reference_id(uid)
    assert len(reference) == 40 and reference == square_wire.reference_id(uid) and reference != uid[:40]
    assert square_wire.reference_id("short-uid") == "short-uid"
    order = {"id": "O1", "reference_id": reference, "metadata": {"request_uid": uid}}
    assert square_wire.is_ours(order, uid)
    assert not square_wire.is_ours(dict(order, metadata={"request_uid": "another"}), uid)
    assert not square_wire.is_ours(dict(order, reference_id="other"), uid)
    assert not square_wire.is_ours(dict(order, metadata={}), uid)  # the same reference, made by another app


def test_the_body_is_deterministic_and_names_its_deadline():
    assert square_wire.order_body(record(), NOT_AFTER, "L") == square_wire.order_body(record(), NOT_AFTER, "L")
    assert square_wire.order_body(record(), NOT_AFTER + 1, "L") != square_wire.order_body(record(), NOT_AFTER, "L")


def test_a_search_covers_the_window_by_creation_newest_first():
    sent = square_wire.search_body(["A", "B"], NOT_AFTER, cursor="c2")
    assert sent["location_ids"] == ["A", "B"] and sent["cursor"] == "c2"
    created = sent["query"]["filter"]["date_time_filter"]["created_at"]
    assert parse_time(created["start_at"]).timestamp() == NOT_AFTER and "end_at" not in created
    assert sent["query"]["sort"] == {"sort_field": "CREATED_AT", "sort_order": "DESC"}  # Square requires the match


def test_a_cancel_moves_the_order_and_its_open_fulfillments_at_the_current_version():
    order = {
        "id": "O1",
        "location_id": "L",
        "version": 3,
        "state": "OPEN",
        "fulfillments": [
            {"uid": "f1", "type": "PICKUP", "state": "PROPOSED"},
            {"uid": "f2", "type": "PICKUP", "state": "COMPLETED"},
        ],
    }
    sent = square_wire.cancel_body(order, "ord-1", "placed late")
    assert sent["order"] == {
        "location_id": "L",
        "version": 3,
        "state": "CANCELED",
        "fulfillments": [{"uid": "f1", "state": "CANCELED", "pickup_details": {"cancel_reason": "placed late"}}],
    }
    assert sent["idempotency_key"] != square_wire.cancel_body(dict(order, version=4), "ord-1")["idempotency_key"]


def test_an_order_reads_back_as_placed_and_a_canceled_one_as_voided():
    order = {
        "id": "O1",
        "state": "OPEN",
        "created_at": "2026-11-23T10:00:00.123Z",
        "total_money": {"amount": 2687, "currency": "USD"},
    }
    assert square_wire.placed(order) == Placed("O1", 2687, created_at=1_795_428_000.123)
    assert square_wire.placed(dict(order, state="CANCELED")).voided


def _catalog():
    variation = {
        "type": "ITEM_VARIATION",
        "id": "V-S",
        "present_at_all_locations": True,
        "item_variation_data": {"name": "Small", "price_money": {"amount": 300, "currency": "USD"}},
    }
    sold_out = {
        "type": "ITEM_VARIATION",
        "id": "V-L",
        "present_at_all_locations": True,
        "item_variation_data": {
            "name": "Large",
            "price_money": {"amount": 450, "currency": "USD"},
            "location_overrides": [{"location_id": "SQ1", "sold_out": True}],
        },
    }
    return [
        {
            "type": "ITEM",
            "id": "I1",
            "present_at_all_locations": True,
            "updated_at": "2026-11-23T10:00:00Z",
            "item_data": {
                "name": "Latte",
                "variations": [variation, sold_out],
                "modifier_list_info": [{"modifier_list_id": "ML1", "max_selected_modifiers": 2}],
            },
        },
        {
            "type": "ITEM",
            "id": "I2",
            "present_at_all_locations": True,
            "absent_at_location_ids": ["SQ1"],
            "item_data": {"name": "Elsewhere", "variations": [dict(variation, id="V-X")]},
        },
        {
            "type": "MODIFIER_LIST",
            "id": "ML1",
            "present_at_all_locations": True,
            "modifier_list_data": {
                "name": "Milk",
                "selection_type": "SINGLE",
                "modifiers": [
                    {
                        "type": "MODIFIER",
                        "id": "M1",
                        "modifier_data": {"name": "Oat", "price_money": {"amount": 75, "currency": "USD"}},
                    }
                ],
            },
        },
        {
            "type": "TAX",
            "id": "T1",
            "present_at_all_locations": False,
            "present_at_location_ids": ["SQ1"],
            "tax_data": {"percentage": "8.25", "enabled": True},
        },
        {
            "type": "TAX",
            "id": "T2",
            "present_at_all_locations": False,
            "present_at_location_ids": ["SQ2"],
            "tax_data": {"percentage": "5"},
        },
    ]


def test_a_catalog_is_the_menu_of_its_location():
    menu = square_menu.normalise_menu("loc-001", {"id": "SQ1", "status": "ACTIVE", "name": "Main"}, _catalog())
    assert menu["location_id"] == "loc-001" and menu["location"]["accepting_orders"] is True
    assert menu["location"]["tax_rate"] == "0.0825" and menu["updated_at"] == "2026-11-23T10:00:00Z"
    items = menu["items"]
    assert set(items) == {"V-S", "V-L", "M1"}  # variations by id; the item absent here is not on it
    assert items["V-S"]["name"] == "Latte (Small)" and items["V-S"]["price"] == 300 and items["V-S"]["available"]
    assert items["V-L"]["available"] is False
    assert items["V-S"]["modifier_groups"] == [
        {"id": "ML1", "name": "Milk", "min": 0, "max": 2, "modifier_ids": ["M1"]}
    ]
    assert items["M1"] == {"id": "M1", "name": "Oat", "item_type": "Modifier", "price": 75, "available": True}


def test_an_inactive_location_does_not_accept_orders():
    menu = square_menu.normalise_menu("loc-002", {"id": "SQ2", "status": "INACTIVE"}, _catalog())
    assert menu["location"]["accepting_orders"] is False and menu["location"]["tax_rate"] == "0.05"
    assert "V-X" in menu["items"]
