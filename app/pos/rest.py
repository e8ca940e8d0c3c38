"""The plain REST POS of pos-api.md, over one pooled requests session.

This adapter owns the vendor's shapes (wire.py: the POST /orders body, money in cents,
`not_after`; the answers' `created_at`) and the menu it normalises into base.Menu. Every call
is bounded as a whole: urllib3's total timeout clips the connect timeout and the read timeout
to the time left, and where gevent has patched the socket module (the web and the worker
processes), a gevent.Timeout ends a call that a slow trickle of bytes would otherwise stretch
past it (requests' read timeout is per read). Answers are mapped to outcomes; anything
unexpected is Transient, which the engine retries under the same Idempotency-Key.

Every call is observed as (operation, outcome, seconds): the HTTP status, `timeout` (the POS
slower than our own connect + read timeouts), `budget_cut` (the caller's shorter time ran out
first) or `connection_error`. Every failed call (429/5xx, reset, timeout, budget_cut, an
unexpected answer) is also one WARNING line: operation, outcome, status, latency_ms and the
request_uid where known; never the token or the body.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout

from app import jsonio
from app.jsonio import Json
from app.pos import wire
from app.pos.base import (
    Expired,
    InProgress,
    KeyUsed,
    LocationUnknown,
    Menu,
    NotVoidable,
    OrderRecord,
    Outcome,
    Placed,
    PosUnavailable,
    Refused,
    Transient,
    VoidBy,
    Voided,
    VoidedKey,
)
from app.pos.session import LeanSession

MIN_CALL = 0.05  # a call given less time than this is not worth making
CUT_SLACK = 0.01  # a timeout this close to the caller's own time: the caller's bound ended it
JSON = "application/json"
log = logging.getLogger(__name__)

Observe = Callable[[str, str, float], None]  # (operation, outcome, seconds), e.g. metrics.observe_pos
OutcomeOf = Callable[[requests.Response], Outcome | None]  # a create answer as an outcome; None: unexpected


class CallTimeout(Exception):
    """The whole call ran out of its time (gevent's hard bound)."""


class BudgetCut(requests.Timeout):
    """The call ran out of the time its caller gave it (less than connect + read timeouts)."""


def _hard_bound(seconds: float) -> AbstractContextManager[object]:
    """gevent.Timeout for `seconds` when gevent runs this process; else nothing."""
    try:
        from gevent import Timeout as GeventTimeout
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return contextlib.nullcontext()
    if not monkey.is_module_patched("socket"):
        return contextlib.nullcontext()
    bound: AbstractContextManager[object] = GeventTimeout(seconds, CallTimeout)  # gevent has no type stubs here
    return bound


def path_segment(value: str) -> str:
    """A location id as one URL path segment; `.` and `..` would name another path."""
    if value in (".", ".."):
        raise LocationUnknown(value)
    return quote(value, safe="")


order_body = wire.body_fields  # the body as a dict, as before, for bench/naive_peer.py; RestPos.order_body: bytes


def normalise_menu(location: Json, menu: Json) -> Menu:
    """The REST POS's location and menu answers as base.Menu."""
    listed = menu.get("items")
    items = listed if isinstance(listed, list) else []
    normalised = {
        "location_id": location.get("location_id"),
        "location": location,
        "updated_at": menu.get("updated_at"),
        "items": {item["id"]: item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)},
    }
    return cast(Menu, normalised)  # the POS's location and items as it answered them (rules.py reads them)


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _error(data: object) -> tuple[str | None, str | None]:
    """The answer's error code and message (pos-api.md's `{"error": {"code", "message"}}`)."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (str(code) if code else None), (str(message) if message else None)


def _failed_status(status: int) -> bool:
    """A status _call itself counts as a failed call (and logs)."""
    return status == 429 or status >= 500


class RestPos:
    enforces_not_after: bool = True
    voids: VoidBy = "key"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        pool_size: int = 100,
        observe: Observe | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.session = LeanSession()  # requests, without the per-call work the POS API does not need
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        # No environment lookups per call (proxies, ~/.netrc that could replace the Bearer header).
        self.session.trust_env = False
        if ca_bundle:
            self.session.verify = ca_bundle
        self._observe: Observe = observe or (lambda operation, outcome, seconds: None)

    @property
    def longest_call(self) -> float:
        return self.connect_timeout + self.read_timeout

    def _timeout(self, seconds: float | None) -> tuple[Timeout, float]:
        total = self.longest_call if seconds is None else max(MIN_CALL, min(seconds, self.longest_call))
        return Timeout(total=total, connect=min(self.connect_timeout, total), read=min(self.read_timeout, total)), total

    def _warn(self, operation: str, outcome: str, *, status: int | None, seconds: float, uid: str | None) -> None:
        extra: dict[str, object] = {
            "operation": operation,
            "outcome": outcome,
            "status": status,
            "latency_ms": round(seconds * 1000, 1),
        }
        if uid is not None:
            extra["request_uid"] = uid
        log.warning("POS call failed: %s %s", operation, outcome, extra=extra)

    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        timeout: float | None = None,
        uid: str | None = None,
        **kw: Any,
    ) -> tuple[requests.Response, float]:
        """The answer and the call's seconds; requests.Timeout (BudgetCut when the caller's own
        shorter time ran out) or another RequestException."""
        bound, total = self._timeout(timeout)
        started = time.monotonic()
        try:
            with _hard_bound(total + 0.05):
                response = self.session.request(method, self.base_url + path, timeout=bound, **kw)
                response.content  # noqa: B018 - read the body inside the bound
        except (requests.Timeout, CallTimeout):
            seconds = time.monotonic() - started
            cut = total < self.longest_call and seconds >= total - CUT_SLACK
            outcome = "budget_cut" if cut else "timeout"
            self._observe(operation, outcome, seconds)
            self._warn(operation, outcome, status=None, seconds=seconds, uid=uid)
            raise (BudgetCut if cut else requests.Timeout)(f"{operation}: no answer within {total:.2f}s") from None
        except requests.RequestException:
            seconds = time.monotonic() - started
            self._observe(operation, "connection_error", seconds)
            self._warn(operation, "connection_error", status=None, seconds=seconds, uid=uid)
            raise
        seconds = time.monotonic() - started
        self._observe(operation, str(response.status_code), seconds)
        if _failed_status(response.status_code):
            self._warn(operation, str(response.status_code), status=response.status_code, seconds=seconds, uid=uid)
        return response, seconds

    def _unexpected(self, operation: str, response: requests.Response, seconds: float, uid: str | None) -> None:
        """An answer outside the contract: one WARNING line, unless _call logged it already."""
        if not _failed_status(response.status_code):
            self._warn(operation, "unexpected", status=response.status_code, seconds=seconds, uid=uid)

    def _read(self, path: str, operation: str, timeout: float | None) -> Json:
        try:
            response, seconds = self._call("GET", path, operation, timeout=timeout)
        except requests.RequestException as exc:
            raise PosUnavailable(f"{operation}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise LocationUnknown(path)
        data = _json(response) if response.status_code == 200 else None
        if not isinstance(data, dict):
            self._unexpected(operation, response, seconds, None)
            why = (
                " (a redirect, not followed: POS_BASE_URL must be the final address)"
                if 300 <= response.status_code < 400
                else ": not a JSON object"
                if response.status_code == 200
                else ""
            )
            raise PosUnavailable(f"{operation}: HTTP {response.status_code}{why}")
        return data

    def get_menu(self, location_id: str, timeout: float | None = None) -> Menu:
        end = time.monotonic() + (self.longest_call * 2 if timeout is None else timeout)
        segment = path_segment(location_id)
        location = self._read(f"/locations/{segment}", "location", end - time.monotonic())
        menu = self._read(f"/locations/{segment}/menu", "menu", end - time.monotonic())
        return normalise_menu(location, menu)

    def find_order(self, external_id: str, timeout: float | None = None) -> Placed | None:
        try:
            response, seconds = self._call(
                "GET", "/orders", "lookup", timeout=timeout, uid=external_id, params={"external_id": external_id}
            )
        except requests.RequestException:
            raise PosUnavailable("lookup failed") from None
        found = _json(response) if response.status_code == 200 else None
        if not isinstance(found, list):
            self._unexpected("lookup", response, seconds, external_id)
            raise PosUnavailable(f"lookup: HTTP {response.status_code}")
        orders = [o for o in found if isinstance(o, dict) and o.get("pos_order_id")]
        live = [o for o in orders if o.get("status") != "voided"]
        return wire.placed((live or orders)[0], replayed=True) if orders else None

    def order_body(self, order: OrderRecord, not_after: float) -> bytes:
        return wire.order_body(order, not_after)

    def place_order(self, order: OrderRecord, not_after: float, timeout: float) -> Outcome:
        return self.send_order(order["request_uid"], self.order_body(order, not_after), timeout)

    def send_order(self, key: str, body: bytes, timeout: float) -> Outcome:
        headers = {"Idempotency-Key": key, "Content-Type": JSON}
        return self._post_order("/orders", key, body, headers=headers, outcome_of=_outcome, timeout=timeout)

    def _post_order(
        self, path: str, key: str, body: bytes, *, headers: dict[str, str], outcome_of: OutcomeOf, timeout: float
    ) -> Outcome:
        """POST a create request; a failed call is Transient, an answer `outcome_of` cannot map is
        logged and Transient too (retried under the same key; the deadline bounds it)."""
        try:
            response, seconds = self._call("POST", path, "place", timeout=timeout, uid=key, data=body, headers=headers)
        except requests.Timeout:
            return Transient("timeout")
        except requests.ConnectionError as exc:
            return Transient(f"connection: {type(exc).__name__}", ambiguous=not _never_connected(exc))
        except requests.RequestException as exc:
            return Transient(f"request: {type(exc).__name__}")
        outcome = outcome_of(response)
        if outcome is None:
            self._unexpected("place", response, seconds, key)
            return _unexpected_outcome(response.status_code)
        return outcome

    def void_order(self, external_id: str, reason: str, timeout: float) -> Voided | NotVoidable:
        body = jsonio.dumps({"external_id": external_id, "reason": reason}).encode()
        try:
            response, seconds = self._call(
                "POST",
                "/orders/void",
                "void",
                timeout=timeout,
                uid=external_id,
                data=body,
                headers={"Idempotency-Key": f"void:{external_id}", "Content-Type": JSON},
            )
        except requests.RequestException as exc:
            raise PosUnavailable(f"void: {type(exc).__name__}") from None
        data = _json(response)
        if response.status_code == 200 and isinstance(data, dict) and data.get("status") == "voided":
            pos_order_id = data.get("pos_order_id")
            return Voided(str(pos_order_id) if pos_order_id else None)
        code, message = _error(data)
        if response.status_code == 409 and code == "not_voidable":
            return NotVoidable(message or "the POS will no longer void this order")
        self._unexpected("void", response, seconds, external_id)
        raise PosUnavailable(f"void: HTTP {response.status_code}")


def _outcome(response: requests.Response) -> Outcome | None:
    """A POST /orders answer as pos-api.md maps it; None for an answer outside the contract."""
    status = response.status_code
    data = _json(response)
    data = data if isinstance(data, dict) else {}
    if status in (200, 201) and data.get("pos_order_id"):
        return VoidedKey() if data.get("status") == "voided" else wire.placed(data, replayed=status == 200)
    if status == 409:
        return InProgress()
    if status == 422:
        code, message = _error(data)
        if code == "expired":
            return Expired()
        if code == "voided":
            return VoidedKey()
        if code == "idempotency_key_reused":  # the key is always our request_uid: the POS has an order under it
            return KeyUsed()
        return Refused(code or "pos_refused", message or "the POS refused")
    if _failed_status(status):
        return Transient(f"HTTP {status}")
    return None


def _unexpected_outcome(status: int) -> Transient:
    # Not a placement (a 4xx we do not expect, a 2xx without an id): retrying with the same key
    # is safe, and the deadline bounds it.
    if 300 <= status < 400:  # not followed: an order is POSTed only to POS_BASE_URL, the final address
        return Transient(
            f"unexpected HTTP {status} (a redirect: POS_BASE_URL must be the POS's final address)", ambiguous=True
        )
    return Transient(f"unexpected HTTP {status}", ambiguous=status < 400)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection: nothing reached the POS."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, NameResolutionError)) or isinstance(exc, requests.ConnectTimeout)
