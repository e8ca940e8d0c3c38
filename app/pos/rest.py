"""The plain REST POS of pos-api.md, over one pooled requests session."""

from __future__ import annotations

import os
import time

import requests
from requests.adapters import HTTPAdapter

from app import jsonio
from app.pos.base import (
    InProgress,
    LocationUnknown,
    Outcome,
    Placed,
    PosUnavailable,
    Refused,
    Transient,
)


class RestPos:
    def __init__(self, base_url: str, token: str, connect_timeout: float = 2.0,
                 read_timeout: float = 10.0, pool_size: int = 100, observe=None):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "Accept": "application/json"})
        # Proxy and CA-bundle variables read once, not on every call (bench: ~5% of a submit's
        # CPU), and no ~/.netrc lookup that could replace the Bearer header.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.session.trust_env = False
        self._observe = observe or (lambda operation, outcome, seconds: None)

    def _call(self, method: str, path: str, operation: str, timeout: float | None = None, **kw):
        read = self.read_timeout if timeout is None else max(0.05, min(timeout, self.read_timeout))
        started = time.monotonic()
        try:
            response = self.session.request(method, self.base_url + path,
                                            timeout=(self.connect_timeout, read), **kw)
        except requests.Timeout:
            self._observe(operation, "timeout", time.monotonic() - started)
            raise
        except requests.RequestException:
            self._observe(operation, "connection_error", time.monotonic() - started)
            raise
        self._observe(operation, str(response.status_code), time.monotonic() - started)
        return response

    def _read(self, path: str, operation: str) -> dict | list:
        try:
            response = self._call("GET", path, operation)
        except requests.RequestException as exc:
            raise PosUnavailable(f"{operation}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise LocationUnknown(path)
        if response.status_code != 200:
            raise PosUnavailable(f"{operation}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise PosUnavailable(f"{operation}: answer is not JSON") from None

    def get_location(self, location_id: str) -> dict:
        return self._read(f"/locations/{requests.utils.quote(location_id, safe='')}", "location")

    def get_menu(self, location_id: str) -> dict:
        return self._read(f"/locations/{requests.utils.quote(location_id, safe='')}/menu", "menu")

    def find_order(self, external_id: str) -> Placed | None:
        try:
            response = self._call("GET", "/orders", "lookup", params={"external_id": external_id})
            found = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            raise PosUnavailable("lookup failed") from None
        if not isinstance(found, list):
            raise PosUnavailable(f"lookup: HTTP {response.status_code}")
        if not found:
            return None
        return Placed(str(found[0]["pos_order_id"]), found[0].get("total"), replayed=True)

    def place_order(self, key: str, body: dict, timeout: float | None = None) -> Outcome:
        try:
            # jsonio: fields PAR sent that we keep (fulfillment, customer) may hold Decimal numbers
            response = self._call("POST", "/orders", "place", timeout=timeout, data=jsonio.dumps(body).encode(),
                                  headers={"Idempotency-Key": key, "Content-Type": "application/json"})
        except requests.Timeout:
            return Transient("timeout")
        except requests.RequestException as exc:
            return Transient(f"connection: {type(exc).__name__}")
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
            return Refused(str(error.get("code") or "pos_refused"),
                           str(error.get("message") or "the POS refused the order"))
        if status == 429 or status >= 500:
            return Transient(f"HTTP {status}")
        # Any other answer (a 4xx we do not expect, a 2xx without an id) is not a placement;
        # retrying with the same key is safe, and the deadline bounds it.
        return Transient(f"unexpected HTTP {status}", ambiguous=status < 400)
