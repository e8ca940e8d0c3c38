"""``POST /orders/void`` (pos-api.md): void the order made under a key, or close the key."""

from flask import jsonify, request

from possim.knobs import STAR
from possim.responses import down, error, get_ledger


def void_order():
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return error(400, "idempotency_key_missing", "the Idempotency-Key header is required (void:<request_uid>)")
    body = request.get_json(force=True, silent=True)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("external_id"), str)
        or not body["external_id"]
        or not isinstance(body.get("reason", ""), str)
    ):
        return error(400, "invalid_body", 'the body must be {"external_id": "...", "reason": "..."}')
    external_id = body["external_id"]
    if key != f"void:{external_id}":
        return error(400, "invalid_idempotency_key", f"a void's Idempotency-Key is void:{external_id}")
    ledger = get_ledger()
    ledger.count_call(external_id, "voids")
    locations = {record["location_id"] for record in ledger.find_orders(external_id)} or {STAR}
    if any(ledger.knobs_for(location_id)["down"] for location_id in locations):
        return down()
    done = ledger.void(external_id, body.get("reason", ""))
    if done.code == "not_voidable":
        return error(409, "not_voidable", done.message)
    return jsonify({"external_id": external_id, "status": "voided", "pos_order_id": done.pos_order_id})
