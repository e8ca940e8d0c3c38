"""What a hostile request is, and how one is judged: no 5xx, no answer slower than 1 s, no digest
on an answer to a request whose digest was not verified (nor on any error or 404), and no state
change from a refused request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app import jsonio, signing
from hostile.wire import Answer

SLOW_SECONDS = 1.0
ORDER_PATHS = ("/posnext/order/validate", "/posnext/orders/validate", "/posnext/order/submit", "/posnext/orders/submit")


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    verified: bool = False  # the request carries the right digest over the body as parsed
    uid: str | None = None  # the request_uid whose record a refusal must not create
    expect: Callable[[Answer], str | None] | None = None  # an extra check: the problem, or None
    slow_seconds: float = SLOW_SECONDS
    raw: Callable[[], Answer] | None = None  # sent over a raw socket instead
    closed_ok: bool = False  # a close without an answer is right (a slow sender cut off)


def digest_for(key: bytes, body: bytes) -> tuple[str, bool]:
    """(x-pch-digest, whether it is the right one): the server's own reading of the bytes."""
    try:
        parsed = jsonio.loads(body)
    except jsonio.BadJson:
        return "0" * 64, False
    if not isinstance(parsed, dict):
        return "0" * 64, False
    return signing.sign(key, parsed), not signing.ambiguous(parsed)


def judge(case: Case, answer: Answer, state_before: dict, state_after: dict) -> list[str]:
    problems = []
    cut_off = case.closed_ok and answer.status == 0 and answer.extra.get("closed")
    if answer.error and not cut_off:
        problems.append(f"transport: {answer.error}")
    if answer.status >= 500:
        problems.append(f"HTTP {answer.status}")
    if answer.seconds > case.slow_seconds:
        problems.append(f"slow: {answer.seconds:.2f}s")
    digest = answer.headers.get("x-pch-digest")
    if digest:
        order_post = case.method == "POST" and case.path in ORDER_PATHS
        polled = case.method == "GET" and case.path.startswith("/posnext/orders/")
        if answer.status not in (200, 202) or not ((order_post and case.verified) or polled):
            problems.append(f"digest on an unverified answer (HTTP {answer.status})")
    ctype = answer.headers.get("content-type", "")
    if answer.status >= 400 and answer.status != 0 and "json" not in ctype:
        problems.append(f"HTTP {answer.status} answered as {ctype or 'no content type'}")
    refused = 400 <= answer.status < 500
    if refused and case.method == "POST" and case.path in ORDER_PATHS:
        if state_before.get("record") is False and state_after.get("record"):
            problems.append("a refused request created a record")
        # keys only added count: leases and menu entries of earlier orders expire by their TTL meanwhile
        quiet = state_before.get("quiet") and state_after.get("quiet")
        if quiet and state_after["dbsize"] > state_before["dbsize"]:
            problems.append(f"a refused request changed Redis ({state_before['dbsize']} -> {state_after['dbsize']})")
    if case.expect is not None and answer.status:
        why = case.expect(answer)
        if why:
            problems.append(why)
    return problems
