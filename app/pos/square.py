"""Square's Orders API as a POS (POS_ADAPTER=square), over the REST adapter's bounded calls.

Auth: every call carries `Authorization: Bearer <access token>` (POS_API_TOKEN) and the API
version it was written against, `Square-Version` (SQUARE_VERSION; without it the application's
default version answers): https://developer.squareup.com/blog/api-versioning-for-connect-v2 Errors come
as `{"errors": [{"category", "code", "detail", "field"}]}`, the status matching the first:
https://developer.squareup.com/docs/build-basics/handling-errors and
https://developer.squareup.com/reference/square/enums/ErrorCode (IDEMPOTENCY_KEY_REUSED: the key
was used with another body; 429 RATE_LIMITED: back off and retry).

What Square's POS does, declared for the engine:
- no `not_after`: Square creates an order whenever CreateOrder reaches it (enforces_not_after
  False: the engine looks for late placements and cancels them);
- no lookup by idempotency key: a timed-out create is found with SearchOrders over the
  locations (a created_at window of SQUARE_SEARCH_WINDOW_SECONDS, newest first, paged), matched
  on `reference_id` and the request_uid the order's metadata keeps (square_wire.is_ours);
- no void by key, and no closing a key before an order exists (voids "pos_order_id"): an order
  is canceled by UpdateOrder to state CANCELED at its current `version`; a COMPLETED order
  cannot be updated (NotVoidable), a CANCELED one is already void.
CreateOrder answers 200 for a new order and for a replay alike (`replayed` is never known).
Square does not document concurrent calls under one key; a 409 is read as InProgress.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from app import jsonio
from app.jsonio import Json
from app.pos import square_menu, square_wire
from app.pos.base import (
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
from app.pos.rest import MIN_CALL, Observe, RestPos, _failed_status, _json, path_segment

JSON = {"Content-Type": "application/json"}
CATALOG_TYPES = "ITEM,MODIFIER_LIST,TAX,DISCOUNT"
LOCATIONS_TTL = 300.0  # seconds a ListLocations answer is reused (SearchOrders needs the ids)
SEARCH_BATCH = 10  # SearchOrders takes at most 10 location_ids


def _error(data: object) -> tuple[str | None, str | None]:
    """The first error's code and detail."""
    errors = data.get("errors") if isinstance(data, dict) else None
    first: Json = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code, detail = first.get("code"), first.get("detail")
    return (str(code) if code else None), (str(detail) if detail else None)


class SquarePos(RestPos):
    enforces_not_after: bool = False
    voids: VoidBy = "pos_order_id"

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
        version: str = "2025-05-21",
        location_map: dict[str, str] | None = None,
        search_window: float = 86400.0,
        currency: str = "USD",
    ) -> None:
        super().__init__(
            base_url,
            token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            pool_size=pool_size,
            observe=observe,
            ca_bundle=ca_bundle,
        )
        self.session.headers["Square-Version"] = version
        self.location_map = dict(location_map or {})
        self.search_window = search_window
        self.currency = currency
        self._locations: tuple[float, list[str]] | None = None

    def square_location(self, location_id: str) -> str:
        return self.location_map.get(location_id, location_id)

    def _end(self, timeout: float | None) -> float:
        return time.monotonic() + (self.longest_call * 2 if timeout is None else timeout)

    def _left(self, end: float, operation: str) -> float:
        left = end - time.monotonic()
        if left < MIN_CALL:
            raise PosUnavailable(f"{operation}: out of time")
        return left

    def _ask(
        self,
        method: str,
        path: str,
        operation: str,
        end: float,
        *,
        uid: str | None = None,
        body: Json | None = None,
        **kw: Any,
    ) -> Json:
        """A 200 answer's object; LocationUnknown on 404, PosUnavailable otherwise."""
        data = None if body is None else jsonio.dumps(body).encode()
        try:
            response, seconds = self._call(
                method,
                path,
                operation,
                timeout=self._left(end, operation),
                uid=uid,
                data=data,
                headers=JSON if body is not None else None,
                **kw,
            )
        except requests.RequestException as exc:
            raise PosUnavailable(f"{operation}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise LocationUnknown(path)
        answer = _json(response) if response.status_code == 200 else None
        if not isinstance(answer, dict):
            self._unexpected(operation, response, seconds, uid)
            raise PosUnavailable(f"{operation}: HTTP {response.status_code} {_error(_json(response))[0] or ''}")
        return answer

    # -- menus ------------------------------------------------------------------------------
    def get_menu(self, location_id: str, timeout: float | None = None) -> Menu:
        end = self._end(timeout)
        square_id = self.square_location(location_id)
        location = self._ask("GET", f"/v2/locations/{path_segment(square_id)}", "location", end).get("location")
        if not isinstance(location, dict):
            raise PosUnavailable("location: no location in the answer")
        objects: list[Json] = []
        cursor = None
        while True:
            params = {"types": CATALOG_TYPES, **({"cursor": cursor} if cursor else {})}
            page = self._ask("GET", "/v2/catalog/list", "menu", end, params=params)
            objects += [o for o in page.get("objects") or [] if isinstance(o, dict)]
            cursor = page.get("cursor")
            if not cursor:
                return square_menu.normalise_menu(location_id, location, objects)

    # -- finding an order -------------------------------------------------------------------
    def _search_locations(self, end: float) -> list[str]:
        """Where to search: the mapped Square locations, else every location ListLocations gives."""
        if self.location_map:
            return sorted(set(self.location_map.values()))
        if self._locations and time.monotonic() - self._locations[0] < LOCATIONS_TTL:
            return self._locations[1]
        answer = self._ask("GET", "/v2/locations", "locations", end)
        ids = sorted(str(loc["id"]) for loc in answer.get("locations") or [] if isinstance(loc, dict) and loc.get("id"))
        self._locations = (time.monotonic(), ids)
        return ids

    def _find(self, external_id: str, end: float) -> Json | None:
        """Square's Order made under this request_uid, or None: every page of the window's orders
        at every location, until it shows up."""
        since = time.time() - self.search_window
        locations = self._search_locations(end)
        for start in range(0, len(locations), SEARCH_BATCH):
            cursor = None
            while True:
                body = square_wire.search_body(locations[start : start + SEARCH_BATCH], since, cursor)
                try:
                    page = self._ask("POST", "/v2/orders/search", "lookup", end, uid=external_id, body=body)
                except LocationUnknown:
                    raise PosUnavailable("lookup: HTTP 404") from None
                for order in page.get("orders") or []:
                    if square_wire.is_ours(order, external_id):
                        return order
                cursor = page.get("cursor")
                if not cursor:
                    break
        return None

    def find_order(self, external_id: str, timeout: float | None = None) -> Placed | None:
        found = self._find(external_id, self._end(timeout))
        return None if found is None else square_wire.placed(found, replayed=True)

    # -- placing ----------------------------------------------------------------------------
    def order_body(self, order: OrderRecord, not_after: float) -> bytes:
        return square_wire.order_body(order, not_after, self.square_location(order["location_id"]), self.currency)

    def send_order(self, key: str, body: bytes, timeout: float) -> Outcome:
        # the key travels in the body (idempotency_key): order_body put it there
        return self._post_order("/v2/orders", key, body, headers=JSON, outcome_of=_outcome, timeout=timeout)

    # -- canceling --------------------------------------------------------------------------
    def void_order(self, external_id: str, reason: str, timeout: float) -> Voided | NotVoidable:
        end = self._end(timeout)
        for _ in range(3):  # a version that moved under us: read it again
            order = self._find(external_id, end)
            if order is None:
                return Voided(None)  # none now; the key stays open (voids "pos_order_id")
            state, order_id = order.get("state"), str(order["id"])
            if state == square_wire.CANCELED:
                return Voided(order_id)
            if state == square_wire.COMPLETED:
                return NotVoidable(f"the Square order {order_id} is COMPLETED: it can no longer be canceled")
            try:
                answer = self._ask(
                    "PUT",
                    f"/v2/orders/{path_segment(order_id)}",
                    "void",
                    end,
                    uid=external_id,
                    body=square_wire.cancel_body(order, external_id, reason),
                )
            except (PosUnavailable, LocationUnknown):
                continue  # 400 (VERSION_MISMATCH, or no longer OPEN) and the like: the next read decides
            updated = answer.get("order")
            if isinstance(updated, dict) and updated.get("state") == square_wire.CANCELED:
                return Voided(order_id)
        raise PosUnavailable("void: the order did not settle")


def _outcome(response: requests.Response) -> Outcome | None:
    """A CreateOrder answer as an outcome; None for an answer outside what Square documents."""
    status, data = response.status_code, _json(response)
    order = data.get("order") if isinstance(data, dict) else None
    if status == 200 and isinstance(order, dict) and order.get("id"):
        # a replay of a key whose order was canceled since: nothing live, and never again
        return VoidedKey() if order.get("state") == square_wire.CANCELED else square_wire.placed(order)
    code, detail = _error(data)
    if status == 400 and code == "IDEMPOTENCY_KEY_REUSED":  # our own key: look the order up
        return KeyUsed()
    if status == 409:
        return InProgress()
    if status in (400, 404) and code:
        return Refused(code.lower(), detail or "Square refused the order")
    if _failed_status(status):
        return Transient(f"HTTP {status}" + (f" {code}" if code else ""))
    return None
