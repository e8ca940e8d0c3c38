"""Callbacks over real HTTP: an order that went to a worker is POSTed to its callback_url once
final, signed; one that never gets through is kept in callbacks:dead, listed and replayed by
the CLI; an order placed inline (200) gets none."""

from __future__ import annotations

import time

from app import jsonio, signing
from tests.support.factories import sample_order
from tests.support.live import SHARED_ID, CallbackReceiver, wait_until

KEY = signing.key_from_shared_id(SHARED_ID)


def callback_state(live, uid: str) -> dict:
    """The callback's state in the order's record: owed, delivered or dead; attempts; last result."""
    record = live.record(uid)
    if not record.get("cb"):
        return {}
    return {
        "state": record["cb"],
        "attempts": int(record.get("cb_attempts") or 0),
        "last_result": record.get("cb_result"),
    }


def dead(live) -> list[str]:
    return [uid.decode() for uid in live.redis.zrange("callbacks:dead", 0, -1)]


def test_every_final_with_a_callback_url_is_called_back_once_signed(fresh):
    """A worker's order and an inline one alike (issue 18's review: a 202 whose promise could not be
    recorded must still be called back, so every final is); each once, with its Idempotency-Key."""
    with CallbackReceiver() as receiver:
        inline = sample_order(callback_url=receiver.url)
        response = fresh.submit(inline)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "placed"

        fresh.knobs("*", latency_ms=1500)
        handed = sample_order(callback_url=receiver.url)
        uid = handed["request_uid"]
        assert fresh.submit(handed).status_code == 202
        wait_until(lambda: receiver.bodies(uid), message="the callback")
        wait_until(lambda: callback_state(fresh, uid).get("state") == "delivered", message="delivered recorded")

        [(headers, raw)] = receiver.bodies(uid)
        body = jsonio.loads(raw)
        assert body["status"] == "placed"
        assert body["order_details"]["pos_order_id"] == fresh.ledger(uid)[0]["pos_order_id"]
        assert headers["content-type"] == "application/json"
        assert signing.verify(KEY, body, headers["x-pch-digest"])
        assert body == jsonio.loads(fresh.get_order(uid).content)  # the same view as polling

        wait_until(lambda: receiver.bodies(inline["request_uid"]), message="the inline order's callback")
        time.sleep(3)  # sweeps pass: a delivered callback is not sent again on its own
        assert len(receiver.bodies(uid)) == 1 and len(receiver.bodies(inline["request_uid"])) == 1


def test_an_undeliverable_callback_is_kept_listed_and_replayed_by_the_cli(fresh):
    with CallbackReceiver(status=500) as receiver:
        fresh.knobs("*", latency_ms=1500)
        order = sample_order(callback_url=receiver.url)
        uid = order["request_uid"]
        assert fresh.submit(order).status_code == 202
        assert fresh.wait_final(uid)["status"] == "placed"
        wait_until(lambda: uid in dead(fresh), timeout=60, message="the callback given up on")
        assert len(receiver.bodies(uid)) == 3  # CALLBACK_MAX_ATTEMPTS in the live env
        assert callback_state(fresh, uid)["state"] == "dead"

        listed = fresh.cli("callbacks", "list")
        assert listed.returncode == 0, listed.stderr
        assert uid in listed.stdout
        assert "HTTP 500" in listed.stdout

        receiver.status = 200
        replayed = fresh.cli("callbacks", "replay", uid)
        assert replayed.returncode == 0, replayed.stderr
        wait_until(lambda: len(receiver.bodies(uid)) == 4, message="the replayed callback")
        wait_until(lambda: callback_state(fresh, uid).get("state") == "delivered", message="delivered recorded")
        assert uid not in dead(fresh)
        headers, raw = receiver.bodies(uid)[-1]
        assert signing.verify(KEY, jsonio.loads(raw), headers["x-pch-digest"])
        assert uid not in fresh.cli("callbacks", "list").stdout
        time.sleep(1)  # nothing more arrives once delivered
        assert len(receiver.bodies(uid)) == 4
