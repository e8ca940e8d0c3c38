"""The simulator's admin API under ``/_admin``: knobs, item availability, ledger, stats, reset."""

from flask import Blueprint, jsonify, request

from possim.knobs import KnobError
from possim.ledger import UnknownItem, UnknownLocation
from possim.responses import error, get_ledger

admin = Blueprint("possim_admin", __name__, url_prefix="/_admin")


@admin.get("/knobs")
def get_knobs():
    return jsonify(get_ledger().knobs_view())


@admin.put("/knobs/<location_id>")
def put_knobs(location_id):
    ledger = get_ledger()
    patch = request.get_json(force=True, silent=True)
    try:
        entry = ledger.patch_knobs(location_id, patch)
    except KnobError as exc:
        return error(400, "invalid_knobs", str(exc))
    except UnknownLocation:
        return error(404, "location_unknown", f"unknown location {location_id}")
    return jsonify({"location_id": location_id, "knobs": entry, "effective": ledger.knobs_for(location_id)})


@admin.put("/locations/<location_id>/items/<item_id>")
def put_item(location_id, item_id):
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("available"), bool):
        return error(400, "invalid_body", 'the body must be {"available": true|false}')
    try:
        get_ledger().set_item_available(location_id, item_id, body["available"])
    except UnknownLocation:
        return error(404, "location_unknown", f"unknown location {location_id}")
    except UnknownItem:
        return error(404, "item_unknown", f"no item {item_id} at {location_id}")
    return jsonify({"location_id": location_id, "item_id": item_id, "available": body["available"]})


@admin.get("/ledger")
def get_ledger_orders():
    """Every order made and the calls per external_id; ``?external_id=`` for one order's."""
    return jsonify(get_ledger().ledger_view(request.args.get("external_id") or None))


@admin.get("/stats")
def get_stats():
    return jsonify(get_ledger().stats_view())


@admin.post("/reset")
def reset():
    get_ledger().reset()
    return jsonify({"reset": True})
