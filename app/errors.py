"""The error model: every error is JSON in the order envelope, never HTML or a stack trace."""

from __future__ import annotations

import logging

import redis
from flask import Flask, g, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from app.archive.db import ArchiveUnavailable
from app.orders.lifecycle import Status
from app.responses import envelope, json_response
from schemas.errors import MAX_ERRORS
from schemas.fields import is_key

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "idempotency_conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        errors: list[dict] | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        item = {"code": code, "message": message}
        if field:
            item["field"] = field
        self.errors = errors or [item]
        self.headers = headers or {}


def error_response(status: int, errors: list[dict], headers: dict | None = None):
    """The error envelope, never signed: an error vouches for nothing (posnext-api.md,
    "Authentication and signing"), and only ids of the key character set are echoed."""
    known = {k: v for k, v in (getattr(g, "order_ids", None) or {}).items() if is_key(v)}
    return json_response(envelope(Status.ERRORED, errors[: MAX_ERRORS + 1], known), status, headers or {})


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.errors, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        headers = {}
        valid = getattr(exc, "valid_methods", None)
        if code == 405 and valid:
            headers["Allow"] = ", ".join(valid)
        message = exc.description if code != 413 else "the request body is larger than MAX_CONTENT_LENGTH"
        return error_response(code, [{"code": HTTP_CODES.get(code, "http_error"), "message": message}], headers)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(redis.exceptions.BusyLoadingError)
    @app.errorhandler(redis.exceptions.ReadOnlyError)  # a demoted primary, retries spent: no primary yet
    @app.errorhandler(redis.exceptions.OutOfMemoryError)  # full under noeviction: refuses writes until freed
    @app.errorhandler(OperationalError)
    def _unavailable(exc):
        log.warning("store or broker unreachable", extra={"error": type(exc).__name__, "path": request.path})
        return error_response(
            503,
            [{"code": "service_unavailable", "message": "the order store is unreachable; retry later"}],
            {"Retry-After": "5"},
        )

    @app.errorhandler(ArchiveUnavailable)
    def _archive_away(exc):  # an order that may be archived cannot be read: say nothing of it yet
        log.warning("archive unreachable", extra={"error": str(exc), "path": request.path})
        return error_response(
            503,
            [{"code": "service_unavailable", "message": "the order archive is unreachable; retry later"}],
            {"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.error("unhandled error", exc_info=exc, extra={"path": request.path})
        return error_response(500, [{"code": "internal_error", "message": "an unexpected error occurred"}])
