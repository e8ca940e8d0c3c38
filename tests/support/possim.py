"""What the simulator's tests share: its token, an order body as the adapter sends it, and the
admin API's knobs and ledger through Flask's test client."""

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def order_body(external_id="req-1", location_id="loc-001", items=None, grand_total=1081):
    if items is None:
        items = [
            {
                "id": "item-001",
                "item_type": "Item",
                "quantity": 1,
                "unit_price": 899,
                "children": [
                    {
                        "id": "mod-003",
                        "item_type": "Modifier",
                        "quantity": 1,
                        "unit_price": 200,
                        "children": [],
                        "note": None,
                    }
                ],
                "note": "no onions",
            }
        ]
    return {
        "external_id": external_id,
        "location_id": location_id,
        "items": items,
        "totals": {"subtotal": 1099, "discount_total": 100, "tax": 82, "tip": 0, "grand_total": grand_total},
        "fulfillment": {"type": "pickup"},
        "customer": {"name": "Ann"},
        "scheduled_for": None,
    }


def post(client, body, key="key-1"):
    return client.post("/orders", json=body, headers={**AUTH, "Idempotency-Key": key})


def knobs(client, location_id, patch):
    response = client.put(f"/_admin/knobs/{location_id}", json=patch, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ledger(client):
    return client.get("/_admin/ledger", headers=AUTH).get_json()


def error_code(response):
    return response.get_json()["error"]["code"]
