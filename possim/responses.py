"""Helpers shared by the simulator's views: the ledger of the running app, JSON error answers."""

from flask import current_app, jsonify

from possim.ledger import Ledger

LEDGER_KEY = "possim.ledger"


def get_ledger() -> Ledger:
    return current_app.extensions[LEDGER_KEY]


def error(status: int, code: str, message: str | None = None, headers: dict | None = None):
    """``{"error": {"code": ..., "message": ...}}`` with ``status``."""
    body = {"code": code}
    if message:
        body["message"] = message
    response = jsonify({"error": body})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def down():
    return error(503, "pos_down", "the POS is down (knob 'down')")
