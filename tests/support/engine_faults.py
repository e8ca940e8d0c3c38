"""What the engine's fault tests on a live stack share: reading answers, polling an order, a
submit in the background, the POS ledger's late creations."""

from __future__ import annotations

import threading
import time

from app.times import parse_time
from tests.support.live import wait_until

FINAL = ("placed", "errored", "rejected", "cancelled")
ROUNDING = 0.001  # the ledger's times are to the millisecond


def epoch(text: str | None) -> float | None:
    moment = parse_time(text)
    return moment.timestamp() if moment else None


def codes(answer: dict | None) -> list[str]:
    return [e.get("code") for e in (answer or {}).get("errors") or []]


def brief(answer: dict | None) -> str:
    if not answer:
        return "no answer"
    return (
        f"{answer.get('status')} {codes(answer)} completed_at {answer.get('completed_at')} "
        f"pos_order_id {(answer.get('order_details') or {}).get('pos_order_id')}"
    )


def status_in_redis(live, uid: str) -> str | None:
    value = live.redis.hget(f"order:{uid}", "status")
    return value.decode() if value else None


def state_by(live, uid: str, until: float) -> tuple[str | None, dict | None]:
    """Poll the order until it is final or `until` (a Unix time) passes: (status, answer)."""
    answer = None
    while True:
        response = live.get_order(uid)
        answer = response.json() if response.status_code == 200 else None
        status = answer["status"] if answer else None
        if status in FINAL or time.time() > until:
            return status, answer
        time.sleep(0.1)


def late_creations(live, uid: str, deadline: float) -> list[str]:
    """The POS orders for `uid` created after its deadline (or after the not_after it was sent)."""
    late = []
    for entry in live.ledger(uid):
        created = epoch(entry["created_at"])
        bound = min(deadline, epoch(entry.get("not_after")) or deadline)
        if created > bound + ROUNDING:
            late.append(
                f"{entry['pos_order_id']} created {created - deadline:+.3f}s from the deadline "
                f"(not_after {entry.get('not_after')})"
            )
    return late


def submit_in_background(live, body: dict) -> tuple[threading.Thread, list]:
    answers: list = []

    def send():
        try:
            answers.append(live.submit(body, timeout=60))
        except Exception as exc:  # the test asserts on it
            answers.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, answers


def first_post_seen(live, uid: str, timeout: float = 10) -> None:
    wait_until(lambda: live.pos_calls(uid)["posts"] >= 1, timeout, 0.005, f"the POS receiving a POST for {uid}")
