"""Callbacks: the final order POSTed to callback_url, signed like a response.

Owed once: the script that makes a handed-off order final marks its callback `owed` and puts
"c:{uid}" in the schedule, due at once. A delivery is a move like any other: claimed
(store.claim 'c'), confirmed durable, POSTed, and closed by one script guarded on the claim
and on the callback still being owed: delivered (never sent again automatically), retried with
backoff, or given up on after CALLBACK_MAX_ATTEMPTS and kept in callbacks:dead for replay. A
replay by an operator is a deliberate resend (store.replay_callback), recorded with who asked.
A worker that dies after the POST and before the closing write leaves the callback owed: it
is sent again once the claim lapses (at least once, across a crash).

Callbacks to loopback, private, link-local or reserved addresses are refused unless
CALLBACK_ALLOW_PRIVATE is set, a guard against request forgery.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from app import jsonio, metrics, signing
from app.orders import backoff
from app.orders.records import view
from app.orders.store import Order, OrderStore

TIMEOUT = (2.0, 5.0)  # connect, read: one delivery's longest wait
CLAIM_SECONDS = sum(TIMEOUT) + 3.0


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

    def deliver(self, order: Order) -> Delivery:
        """One POST of the order's final record to its callback_url."""
        url = order.doc.get("callback_url")
        if not url:
            return Delivery(True, "no callback_url")
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

    def move(self, uid: str) -> str:
        """Claim the owed callback, deliver it once, and record the outcome."""
        claim = self.store.claim("c", uid, CLAIM_SECONDS)
        if not claim.ok or claim.order is None:
            return claim.reason
        order = claim.order
        if not self.store.durability.confirm(self.store.redis):
            self.store.settle_callback(uid, claim.token, "retry", 1.0, "waiting for the final state to be durable")
            return "not_durable"
        delivery = self.deliver(order)
        attempts = order.callback_attempts + 1
        if delivery.ok:
            outcome = "delivered"
        elif delivery.permanent or attempts >= self.settings.callback_max_attempts:
            outcome = "dead"
        else:
            outcome = "retry"
        delay = backoff.delay(attempts, 2.0, 300.0)
        self.store.settle_callback(uid, claim.token, outcome, delay, delivery.reason)
        metrics.count_callback(self.store.redis, {"delivered": "delivered", "dead": "given_up"}.get(outcome, "failed"))
        return outcome
