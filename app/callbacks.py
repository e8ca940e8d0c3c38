"""Callbacks: the final order POSTed to callback_url, signed like a response.

Callbacks to loopback, private, link-local or reserved addresses are refused unless
CALLBACK_ALLOW_PRIVATE is set, a guard against request forgery. The address is checked at
delivery, when the name is resolved.

A callback owed is listed in callbacks:pending from the write that makes the order final until
it is delivered or given up on; the sweep re-sends one whose task was lost (a killed worker, a
Redis restart dropping a countdown).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from app import jsonio, signing
from app.orders.records import view
from app.orders.store import OrderStore

TIMEOUT = (2.0, 5.0)  # connect, read: one delivery's longest wait


def overdue_at(settings, after: float) -> float:
    """When a delivery expected to start at `after` is overdue: its own longest wait, plus the sweep's grace."""
    return after + sum(TIMEOUT) + settings.sweep_grace


@dataclass(frozen=True)
class Delivery:
    ok: bool
    reason: str
    permanent: bool = False


def forbidden_address(url: str) -> str | None:
    """Why the URL's host may not be called, or None."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "not an http(s) URL"
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return None  # unresolvable now: a transient failure, not a forbidden one
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified or not address.is_global):
            return f"{parsed.hostname} resolves to a non-public address"
    return None


class CallbackSender:
    def __init__(self, settings, store: OrderStore, session: requests.Session | None = None):
        self.settings = settings
        self.store = store
        self.session = session or requests.Session()

    def deliver(self, uid: str) -> Delivery:
        order = self.store.get(uid)
        if order is None:
            return Delivery(False, "order expired", permanent=True)
        url = order.doc.get("callback_url")
        if not url:
            return Delivery(True, "no callback_url")
        if not order.final:
            return Delivery(False, "order not final yet")
        if not self.settings.callback_allow_private:
            why = forbidden_address(url)
            if why:
                return Delivery(False, f"refused: {why}", permanent=True)
        body = view(order.doc)
        headers = {"Content-Type": "application/json",
                   "x-pch-digest": signing.sign(self.settings.digest_key, body)}
        try:
            response = self.session.post(url, data=jsonio.dumps(body).encode(), headers=headers,
                                         timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            return Delivery(False, f"{type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return Delivery(True, f"HTTP {response.status_code}")
        return Delivery(False, f"HTTP {response.status_code}")

    def record(self, uid: str, delivery: Delivery, attempts: int, given_up: bool, retry_in: float = 0.0) -> None:
        now = time.time()
        state = {"state": "delivered" if delivery.ok else ("failed" if given_up else "retrying"),
                 "attempts": attempts, "last_result": delivery.reason, "at": jsonio.iso(now)}
        settled = delivery.ok or given_up
        self.store.set_callback(uid, state, dead=True if given_up else (False if delivery.ok else None),
                                due=None if settled else overdue_at(self.settings, now + retry_in))
        self.store.note(uid, "worker", f"callback {state['state']}: {delivery.reason}")
