"""The POS simulator: the REST POS of pos-api.md and, under /v2, Square's Orders API
(possim/square.py), on one ledger, with knobs for latency, failures and state."""

import hmac
import logging
import random
import time

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from possim.admin import admin
from possim.knobs import STAR
from possim.ledger import Ledger
from possim.orderbody import BodyError, body_hash, check_order_body
from possim.records import Claim, now_iso, order_answer
from possim.responses import LEDGER_KEY, down, error, get_ledger
from possim.seed import default_seed
from possim.square import square
from possim.voids import void_order

log = logging.getLogger("possim")


def create_app(
    token: str, seed: dict | None = None, knobs: dict | None = None, rng: random.Random | None = None
) -> Flask:
    """The simulator app. ``seed`` defaults to possim.seed; ``knobs`` (``{"*"|location_id:
    entry}``) are the knobs at start, which ``POST /_admin/reset`` returns to."""
    if not token:
        raise ValueError("the POS API token must not be empty")
    app = Flask("possim")
    app.extensions[LEDGER_KEY] = Ledger(seed if seed is not None else default_seed(), knobs, rng)
    expected = f"Bearer {token}".encode()

    @app.before_request
    def check_token():
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return error(
                401,
                "unauthorized",
                "Authorization: Bearer <POS_API_TOKEN> required",
                {"WWW-Authenticate": 'Bearer realm="possim"'},
            )
        return None

    @app.after_request
    def count_post_orders(response):
        if request.method == "POST" and request.path == "/orders":
            get_ledger().count_answer(response.status_code)
        return response

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/locations/<location_id>", view_func=get_location, methods=["GET"])
    app.add_url_rule("/locations/<location_id>/menu", view_func=get_menu, methods=["GET"])
    app.add_url_rule("/orders", view_func=post_order, methods=["POST"])
    app.add_url_rule("/orders", view_func=find_orders, methods=["GET"])
    app.add_url_rule("/orders/void", view_func=void_order, methods=["POST"])
    app.register_blueprint(admin)
    app.register_blueprint(square)
    return app


def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
    headers = {"Allow": ", ".join(exc.valid_methods)} if isinstance(exc, MethodNotAllowed) else {}
    return error(exc.code or 500, code, exc.description, headers)


def _unexpected_error(exc: Exception):
    log.error("possim: unexpected error", exc_info=exc)
    return error(500, "internal_error", "the simulator failed unexpectedly")


def get_location(location_id):
    ledger = get_ledger()
    if ledger.knobs_for(location_id)["down"]:
        return down()
    location = ledger.location(location_id)
    if location is None:
        return error(404, "location_unknown", f"unknown location {location_id}")
    return jsonify(location)


def get_menu(location_id):
    ledger = get_ledger()
    if ledger.knobs_for(location_id)["down"]:
        return down()
    menu = ledger.menu(location_id)
    if menu is None:
        return error(404, "location_unknown", f"unknown location {location_id}")
    return jsonify(menu)


def post_order():
    received_at = now_iso()
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return error(400, "idempotency_key_missing", "the Idempotency-Key header is required")
    body = request.get_json(force=True, silent=True)
    if isinstance(body, dict) and isinstance(body.get("external_id"), str) and body["external_id"]:
        get_ledger().count_call(body["external_id"], "posts")
    try:
        check_order_body(body)
    except BodyError as exc:
        return error(400, "invalid_body", str(exc))
    ledger = get_ledger()
    knobs = ledger.knobs_for(body["location_id"])
    if knobs["down"]:
        return down()
    claim = ledger.claim(key, body_hash(body), body["external_id"], body["location_id"])
    if claim.kind == "voided":
        return error(422, "voided", "this key was voided: no order is made under it")
    if claim.kind == "replay":
        return jsonify(claim.order), 200
    if claim.kind == "reused":
        return error(422, "idempotency_key_reused", "this Idempotency-Key was already used with another body")
    if claim.kind == "in_progress":
        return error(409, "in_progress", "a call with this Idempotency-Key is in progress")
    try:
        return _process(ledger, claim, body, knobs, received_at)
    finally:
        ledger.release(claim)


def _chance(ledger: Ledger, rate: float) -> bool:
    return rate > 0 and ledger.random() < rate


def _process(ledger: Ledger, claim: Claim, body: dict, knobs: dict, received_at: str):
    """The work of a new claim: the knobs' sleeps and failures around creating the order."""
    if knobs["hang_seconds"] > 0:
        time.sleep(knobs["hang_seconds"])
        return error(503, "pos_timeout", "the POS hung and gave up (knob 'hang_seconds')")
    delay_ms = knobs["latency_ms"] + knobs["latency_jitter_ms"] * ledger.random()
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if _chance(ledger, knobs["error_rate"]):
        status = knobs["error_status"]
        headers = {"Retry-After": "1"} if status in (429, 503) else {}
        return error(status, "injected_error", "injected failure (knob 'error_rate')", headers)
    placement = ledger.place(claim, body, received_at)
    if placement.order is None:
        return error(422, placement.code, placement.message)
    if _chance(ledger, knobs["ambiguous_error_rate"]):
        return error(
            500, "injected_ambiguous_error", "the order was created, then the POS failed (knob 'ambiguous_error_rate')"
        )
    return jsonify(placement.order), 201


def find_orders():
    external_id = request.args.get("external_id", "")
    if not external_id:
        return error(400, "external_id_missing", "the external_id query parameter is required")
    ledger = get_ledger()
    ledger.count_call(external_id, "lookups")
    records = ledger.find_orders(external_id)
    locations = {record["location_id"] for record in records} or {STAR}
    knobs = [ledger.knobs_for(location_id) for location_id in locations]
    if any(k["down"] for k in knobs):
        return down()
    delay_ms = max(k["lookup_latency_ms"] for k in knobs)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if any(k["lookup_down"] for k in knobs):
        return error(503, "pos_down", "lookups are down (knob 'lookup_down')")
    records = ledger.find_orders(external_id)  # as it is after the sleep
    return jsonify([order_answer(record) for record in records])
