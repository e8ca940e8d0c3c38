"""The service's JSON answers: plain (errors, and everything that is not an order response) and
signed with x-pch-digest (order responses, only for what the service verified or decided)."""

from __future__ import annotations

from flask import current_app, g

from app import jsonio, signing
from app.jsonio import Json

DIGEST_HEADER = "x-pch-digest"


def envelope(status: str, errors: list[Json], request: Json | None = None, **extra: object) -> Json:
    """The body of an answer that is not a stored order: validate, and every error."""
    request = request or {}
    body = {
        "request_uid": request.get("request_uid"),
        "location_id": request.get("location_id"),
        "status": status,
        "errors": errors,
    }
    if request.get("request_type"):
        body["request_type"] = request["request_type"]
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def digest_verified() -> bool:
    """Whether this request's x-pch-digest was checked and matched."""
    return bool(g.get("digest_verified"))


def json_response(body: dict, status: int = 200, headers: dict | None = None):
    """A JSON answer with no x-pch-digest: errors, and everything that is not an order response."""
    g.answer_status = body.get("status")  # for the answer's log line, without parsing the body again
    response = current_app.response_class(jsonio.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def signed_response(body: dict, status: int = 200, headers: dict | None = None, *, stored: bool = False):
    """An order response carrying x-pch-digest. A signature vouches only for what the service
    verified or decided: the answer to a request whose digest matched, or an order record (whose
    request's digest matched when it was recorded, `stored`). Anything else is refused here, so
    no path can turn this service into a signing oracle for fields a client chose."""
    if not (stored or digest_verified()):
        raise RuntimeError("refusing to sign an answer to a request whose digest was not verified")
    response = json_response(body, status, headers)
    response.headers[DIGEST_HEADER] = signing.sign(current_app.extensions["posbridge"].settings.digest_key, body)
    return response
