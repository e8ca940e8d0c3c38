"""Callbacks: the final order POSTed to callback_url, signed like a response.

Owed once: an order to which a 202 was answered (app/orders/answers.py) owes its callback once
final; the script that makes it final marks it `owed` and puts "c:{uid}" in the schedule, due
at once. A delivery is a move like any other: claimed (store.claim, Move.CALLBACK) for longer than the
delivery can take (CALLBACK_TIMEOUT_SECONDS bounds resolve, connect, send and read together:
app/deadline.py), confirmed durable (Answers.deliverable), POSTed, and closed by one script guarded on the claim
and on the callback still being owed: delivered (never sent again automatically), retried with
backoff, or given up on after CALLBACK_MAX_ATTEMPTS and kept in callbacks:dead for replay. A
replay by an operator is a deliberate resend (store.replay_callback), recorded with who asked.
A worker that dies after the POST and before the closing write leaves the callback owed: it
is sent again once the claim lapses (at least once, across a crash).

Callbacks to loopback, private, link-local or reserved addresses are refused unless
CALLBACK_ALLOW_PRIVATE is set, a guard against request forgery.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import requests

from app import jsonio, metrics, safe_http, signing
from app.deadline import CallTimeout, hard_deadline
from app.orders import backoff
from app.orders.answers import Answers
from app.orders.lifecycle import Move, MoveResult
from app.orders.order import Order, view
from app.orders.store import OrderStore

log = logging.getLogger(__name__)

CLAIM_MARGIN = 3.0  # a delivery's claim outlasts its whole bound by this much (the closing write)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    reason: str
    permanent: bool = False


def forbidden_address(url: str) -> str | None:
    """Why the URL's host may not be called, or None (an unresolvable name is transient, and the
    delivery itself resolves once and connects to the address it vetted: app/safe_http.py)."""
    try:
        safe_http.vet(url)
    except safe_http.Forbidden as exc:
        return str(exc)
    except safe_http.Unresolvable:
        return None
    return None


class CallbackSender:
    def __init__(self, settings, store: OrderStore, session: requests.Session | None = None):
        self.settings = settings
        self.store = store
        self.answers = Answers(store)
        self.session = session or safe_http.pinned_session(settings.callback_allow_private)
        self.timeout = float(settings.callback_timeout_seconds)

    def deliver(self, order: Order) -> Delivery:
        """One POST of the order's final record to its callback_url."""
        url = order.doc.get("callback_url")
        if not url:
            return Delivery(True, "no callback_url")
        body = view(order.doc)
        # the same key on every send of this final state: a sender killed between the receiver's
        # answer and its record sends once more (docs/ENGINE.md, Callbacks), and the receiver can drop it
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{order.uid}:{order.status}",
            "x-pch-digest": signing.sign(self.settings.digest_key, body),
        }
        started = time.monotonic()
        try:
            with hard_deadline(self.timeout):  # resolve, connect, send and read together
                response = self.session.post(
                    url, data=jsonio.dumps(body).encode(), headers=headers, timeout=self.timeout, allow_redirects=False
                )
                response.content  # noqa: B018 - read the whole answer inside the bound
        except (safe_http.Forbidden, requests.exceptions.InvalidURL) as exc:  # vetted where it connects
            return Delivery(False, f"refused: {exc}", permanent=True)
        except CallTimeout:
            # hang up now: the interrupted connection would otherwise stay open until collected, and
            # the receiver go on answering a delivery its sender gave up on
            self.session.close()
            return Delivery(False, f"no answer within {self.timeout:g}s ({_host(url)})")
        except requests.RequestException as exc:
            return Delivery(False, f"{type(exc).__name__} ({_host(url)}, after {time.monotonic() - started:.1f}s)")
        if 200 <= response.status_code < 300:
            return Delivery(True, f"HTTP {response.status_code}")
        return Delivery(False, f"HTTP {response.status_code}")

    def move(self, uid: str) -> MoveResult:
        """Claim the owed callback, deliver it once, and record the outcome."""
        # the claim outlasts the durability check and the delivery's whole bound (CALLBACK_TIMEOUT_SECONDS)
        seconds = self.timeout + self.store.durability.timeout_ms / 1000 + CLAIM_MARGIN
        claim = self.store.claim(Move.CALLBACK, uid, seconds)
        if claim.refused is not None or claim.order is None:
            return claim.refused or MoveResult.UNREADABLE
        order = claim.order
        # no POST unless a replica answers now (DURABILITY=replica: one cut off would miss this
        # delivery's record, and the node promoted after it would send the callback again), and,
        # in the same round trip, this mover still holds the claim for the POST's whole bound and the
        # callback is still owed: a mover held up since its claim (a Redis call waiting out a dead
        # host's Sentinel) must not send a callback that the mover that took over has delivered
        refused = (
            self.store.callback_may_send(uid, claim.token, self.timeout)
            if self.answers.deliverable(order)
            else MoveResult.NOT_DURABLE
        )
        if refused is MoveResult.NOT_DURABLE:
            self.store.settle_callback(
                uid,
                claim.token,
                outcome=MoveResult.RETRY,
                delay=1.0,
                result_text="waiting for the final state to be durable",
            )
            return MoveResult.NOT_DURABLE
        if refused is not None:
            log.info("callback not sent", extra={"request_uid": uid, "reason": refused})
            return refused
        delivery = self.deliver(order)
        attempts = order.callback_attempts + 1
        if delivery.ok:
            outcome = MoveResult.DELIVERED
        elif delivery.permanent or attempts >= self.settings.callback_max_attempts:
            outcome = MoveResult.DEAD
        else:
            outcome = MoveResult.RETRY
        delay = backoff.delay(
            attempts, self.settings.callback_backoff_base_seconds, self.settings.callback_backoff_cap_seconds
        )
        recorded = self.store.settle_callback(
            uid, claim.token, outcome=outcome, delay=delay, result_text=delivery.reason
        )
        if not recorded:
            # the claim was lost meanwhile, or the callback is no longer owed: nothing was recorded, and
            # the task's result says so (a delivery reported DELIVERED is one whose record was written)
            log.warning("callback outcome not recorded", extra={"request_uid": uid, "outcome": outcome})
        if not delivery.ok:  # one line per failed delivery (operations.md, Logs): the receiver's trouble
            log.warning(
                "callback delivery failed",
                extra={"request_uid": uid, "outcome": outcome, "reason": delivery.reason, "attempt": attempts},
            )
        counted = {MoveResult.DELIVERED: "delivered", MoveResult.DEAD: "given_up"}.get(outcome, "failed")
        metrics.count_callback(self.store.redis, counted)
        return outcome if recorded else MoveResult.UNRECORDED


def _host(url: str) -> str:
    """The host and port a delivery went to, for its result (never the path or its query)."""
    parsed = urlparse(url)
    return parsed.netloc.rpartition("@")[2] or "?"
