"""The plain REST POS of pos-api.md, over one pooled requests session.

This adapter owns the vendor's shapes: the POST /orders body (money in cents, `not_after`)
and the menu it normalises into base.Menu. Every call is bounded as a whole: urllib3's total
timeout clips the connect timeout and the read timeout to the time left, and where gevent has
patched the socket module (the web and the worker processes), a gevent.Timeout ends a call
that a slow trickle of bytes would otherwise stretch past it (requests' read timeout is per
read). Answers are mapped to outcomes; anything unexpected is Transient, which the engine
retries under the same Idempotency-Key.
"""

from __future__ import annotations

import contextlib
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout

from app import jsonio
from app.jsonio import money_to_cents
from app.pos.base import (
    Expired,
    InProgress,
    KeyUsed,
    LocationUnknown,
    Menu,
    Outcome,
    Placed,
    PosUnavailable,
    Refused,
    Transient,
)
from app.pos.session import LeanSession
from app.times import format_time

TOTALS = ("subtotal", "discount_total", "tax", "tip", "grand_total")
MIN_CALL = 0.05  # a call given less time than this is not worth making


class CallTimeout(Exception):
    """The whole call ran out of its time (gevent's hard bound)."""


def _hard_bound(seconds: float):
    """gevent.Timeout for `seconds` when gevent runs this process; else nothing."""
    try:
        from gevent import Timeout as GeventTimeout
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return contextlib.nullcontext()
    if not monkey.is_module_patched("socket"):
        return contextlib.nullcontext()
    return GeventTimeout(seconds, CallTimeout)


def path_segment(value: str) -> str:
    """A location id as one URL path segment; `.` and `..` would name another path."""
    if value in (".", ".."):
        raise LocationUnknown(value)
    return requests.utils.quote(value, safe="")


def _line(line: dict) -> dict:
    out = {"id": line["id"], "item_type": line["item_type"], "quantity": line["quantity"],
           "unit_price": money_to_cents(line.get("unit_price")),
           "children": [_line(child) for child in line.get("children") or []]}
    if line.get("note"):
        out["note"] = line["note"]
    return out


def order_body(order: dict, not_after: float) -> dict:
    """The POST /orders body of pos-api.md for an order record. Deterministic: the same record
    and deadline, the same body (so a retry under the same key is the same call)."""
    details = order["order_details"]
    fulfillment = details.get("fulfillment") or {}
    return {
        "external_id": order["request_uid"],
        "not_after": format_time(not_after),
        "location_id": order["location_id"],
        "items": [_line(line) for line in details["items"]],
        "totals": {name: money_to_cents(details.get(name)) for name in TOTALS},
        "fulfillment": fulfillment,
        "customer": details.get("customer") or {},
        "scheduled_for": fulfillment.get("promised_at") if order.get("schedule_type") == "future" else None,
    }


def normalise_menu(location: dict, menu: dict) -> Menu:
    """The REST POS's location and menu answers as base.Menu."""
    items = menu.get("items") if isinstance(menu.get("items"), list) else []
    return {
        "location_id": location.get("location_id"),
        "location": location,
        "updated_at": menu.get("updated_at"),
        "items": {item["id"]: item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)},
    }


class RestPos:
    def __init__(self, base_url: str, token: str, connect_timeout: float = 2.0,
                 read_timeout: float = 10.0, pool_size: int = 100, observe=None, ca_bundle: str | None = None):
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
        self._observe = observe or (lambda operation, outcome, seconds: None)

    @property
    def longest_call(self) -> float:
        return self.connect_timeout + self.read_timeout

    def _timeout(self, seconds: float | None) -> tuple[Timeout, float]:
        total = self.longest_call if seconds is None else max(MIN_CALL, min(seconds, self.longest_call))
        return Timeout(total=total, connect=min(self.connect_timeout, total), read=min(self.read_timeout, total)), total

    def _call(self, method: str, path: str, operation: str, timeout: float | None = None, **kw):
        bound, total = self._timeout(timeout)
        started = time.monotonic()
        try:
            with _hard_bound(total + 0.05):
                response = self.session.request(method, self.base_url + path, timeout=bound, **kw)
                response.content  # noqa: B018 - read the body inside the bound
        except (requests.Timeout, CallTimeout):
            self._observe(operation, "timeout", time.monotonic() - started)
            raise requests.Timeout(f"{operation}: no answer within {total:.2f}s") from None
        except requests.RequestException:
            self._observe(operation, "connection_error", time.monotonic() - started)
            raise
        self._observe(operation, str(response.status_code), time.monotonic() - started)
        return response

    def _read(self, path: str, operation: str, timeout: float | None) -> dict:
        try:
            response = self._call("GET", path, operation, timeout)
        except requests.RequestException as exc:
            raise PosUnavailable(f"{operation}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise LocationUnknown(path)
        if response.status_code != 200:
            moved = " (a redirect, not followed: POS_BASE_URL must be the final address)" \
                if 300 <= response.status_code < 400 else ""
            raise PosUnavailable(f"{operation}: HTTP {response.status_code}{moved}")
        try:
            data = response.json()
        except ValueError:
            raise PosUnavailable(f"{operation}: answer is not JSON") from None
        if not isinstance(data, dict):
            raise PosUnavailable(f"{operation}: answer is not an object")
        return data

    def get_menu(self, location_id: str, timeout: float | None = None) -> Menu:
        end = time.monotonic() + (self.longest_call * 2 if timeout is None else timeout)
        segment = path_segment(location_id)
        location = self._read(f"/locations/{segment}", "location", end - time.monotonic())
        menu = self._read(f"/locations/{segment}/menu", "menu", end - time.monotonic())
        return normalise_menu(location, menu)

    def find_order(self, external_id: str, timeout: float | None = None) -> Placed | None:
        try:
            response = self._call("GET", "/orders", "lookup", timeout, params={"external_id": external_id})
            found = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            raise PosUnavailable("lookup failed") from None
        if not isinstance(found, list):
            raise PosUnavailable(f"lookup: HTTP {response.status_code}")
        if not found or not isinstance(found[0], dict) or not found[0].get("pos_order_id"):
            return None
        return Placed(str(found[0]["pos_order_id"]), found[0].get("total"), replayed=True)

    def order_body(self, order: dict, not_after: float) -> bytes:
        # jsonio: fields PAR sent that we keep (fulfillment, customer) may hold Decimal numbers
        return jsonio.dumps(order_body(order, not_after)).encode()

    def place_order(self, order: dict, not_after: float, timeout: float) -> Outcome:
        """order_body and send_order in one (tools and tests; the engine stores the body)."""
        return self.send_order(order["request_uid"], self.order_body(order, not_after), timeout)

    def send_order(self, key: str, body: bytes, timeout: float) -> Outcome:
        try:
            response = self._call("POST", "/orders", "place", timeout, data=body,
                                  headers={"Idempotency-Key": key, "Content-Type": "application/json"})
        except requests.Timeout:
            return Transient("timeout")
        except requests.ConnectionError as exc:
            return Transient(f"connection: {type(exc).__name__}", ambiguous=not _never_connected(exc))
        except requests.RequestException as exc:
            return Transient(f"request: {type(exc).__name__}")
        return self._outcome(response)

    @staticmethod
    def _outcome(response: requests.Response) -> Outcome:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if status in (200, 201) and data.get("pos_order_id"):
            return Placed(str(data["pos_order_id"]), data.get("total"), replayed=status == 200)
        if status == 409:
            return InProgress()
        if status == 422:
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            if error.get("code") == "expired":
                return Expired()
            if error.get("code") == "idempotency_key_reused":
                return KeyUsed()
            return Refused(str(error.get("code") or "pos_refused"), str(error.get("message") or "the POS refused"))
        if status == 429 or status >= 500:
            return Transient(f"HTTP {status}")
        # Any other answer (a 4xx we do not expect, a 2xx without an id) is not a placement;
        # retrying with the same key is safe, and the deadline bounds it.
        if 300 <= status < 400:  # not followed: an order is POSTed only to POS_BASE_URL, the final address
            return Transient(f"unexpected HTTP {status} (a redirect: POS_BASE_URL must be the POS's final address)",
                             ambiguous=True)
        return Transient(f"unexpected HTTP {status}", ambiguous=status < 400)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """A refused or unresolvable connection: nothing reached the POS."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, NameResolutionError)) or isinstance(exc, requests.ConnectTimeout)
