"""GET or POST /posnext/menus: the location's menu as the service has it cached; fresh location ids
found unknown are limited per client (app/menus.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from app import jsonio
from app.auth import require_jwt
from app.body import read_body
from app.errors import ApiError
from app.menus import UNKNOWN_SECONDS, MenuUnavailable
from schemas.errors import flatten
from schemas.menus import MenuQuerySchema

bp = Blueprint("menus", __name__)
_query = MenuQuerySchema()


@bp.route("/posnext/menus", methods=["GET", "POST"])
def menus():
    claims = require_jwt()
    if request.method == "POST":
        if request.mimetype != "application/json":
            raise ApiError(415, "unsupported_media_type", "send application/json")
        try:
            source = jsonio.loads(read_body(current_app.extensions["posbridge"].settings.max_content_length))
        except jsonio.BadJson as exc:
            raise ApiError(400, "invalid_json", str(exc)) from None
        if not isinstance(source, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
    else:
        source = request.args.to_dict()
    try:
        location_id = _query.load({"location_id": source.get("location_id")})["location_id"]
    except ValidationError as exc:
        raise ApiError(
            400, "schema_invalid", "location_id is required and must be an id", errors=flatten(exc.messages)
        ) from None
    g.order_ids = {"location_id": location_id}
    cache = current_app.extensions["posbridge"].menus
    client = str(claims.get("sub") or "")
    cached = cache.read(location_id)[1]
    if cached.entry is None and cache.unknown_budget_spent(client):
        raise ApiError(
            429,
            "too_many_requests",
            "too many unknown locations asked for; retry later",
            field="location_id",
            headers={"Retry-After": str(UNKNOWN_SECONDS)},
        )
    try:
        entry = cache.get(location_id, raw=cached)
    except MenuUnavailable:
        raise ApiError(
            503,
            "menu_unavailable",
            "no menu is cached and the POS cannot be reached",
            field="location_id",
            headers={"Retry-After": "30"},
        ) from None
    if entry.get("unknown"):
        if cached.entry is None:  # a fresh id, asked of the POS
            cache.spend_unknown(client)
        raise ApiError(404, "location_unknown", f"location {location_id!r} is unknown", field="location_id")
    body = cache.public(entry)
    response = current_app.response_class(jsonio.dumps(body), mimetype="application/json")
    response.headers["Age"] = str(int(body["age_seconds"]))
    return response
