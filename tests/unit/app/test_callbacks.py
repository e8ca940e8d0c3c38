"""Callbacks: refused to non-public addresses unless allowed; the body is signed like a response."""

from __future__ import annotations

import socket

import pytest

from app import jsonio, signing
from app.callbacks import CallbackSender, Delivery, forbidden_address
from app.orders.lifecycle import Move
from app.orders.order import view
from app.orders.store import OrderStore
from app.settings import load_settings
from tests.conftest import BASE_ENV
from tests.support.factories import final_order
from tests.support.helpers import LocalServer


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://127.8.9.10:8080/cb",
        "http://localhost/cb",
        "http://[::1]/cb",
        "http://10.1.2.3/cb",
        "http://172.16.0.9/cb",
        "http://192.168.1.20/cb",
        "http://[fd00::1]/cb",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/cb",
        "http://0.0.0.0/cb",
        "http://224.0.0.1/cb",
        "http://240.0.0.1/cb",
        "https://100.64.0.1/cb",
        "http://100.100.100.200/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[::ffff:10.0.0.1]/cb",
        "http://198.18.0.1/cb",
    ],
    ids=lambda u: u.split("/")[2],
)
def test_non_public_addresses_are_forbidden(url):
    assert forbidden_address(url)


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/cb", "http://8.8.8.8:8080/cb", "https://[2606:4700:4700::1111]/cb"]
)
def test_public_addresses_are_allowed(url):
    assert forbidden_address(url) is None


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/cb", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(url):
    assert forbidden_address(url) == "not an http(s) URL"


def test_a_name_that_resolves_to_a_private_address_is_forbidden(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ],
    )
    assert "non-public" in forbidden_address("https://par-callbacks.example/cb")


def test_a_name_that_does_not_resolve_now_is_not_forbidden(monkeypatch):
    def fail(host, port):
        raise socket.gaierror("temporary failure")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    assert forbidden_address("https://par-callbacks.example/cb") is None


@pytest.fixture
def server():
    local = LocalServer(lambda method, path, headers, body: (204 if path == "/ok" else 500, b""))
    yield local
    local.close()


def sender(redis_client, allow_private: bool):
    settings = load_settings({**BASE_ENV, "CALLBACK_ALLOW_PRIVATE": "true" if allow_private else "false"})
    return CallbackSender(settings, OrderStore(redis_client)), settings


def test_a_private_callback_is_refused_without_calling(redis_client, server):
    send, _ = sender(redis_client, allow_private=False)
    uid = final_order(send.store, server.url + "/ok")
    delivery = send.deliver(send.store.get(uid))
    assert (delivery.ok, delivery.permanent) == (False, True)
    assert delivery.reason.startswith("refused:")
    assert server.seen == []
    assert send.move(uid) == "dead"  # refused for good: kept for replay, not retried


def test_with_callback_allow_private_the_signed_body_is_posted(redis_client, server):
    send, settings = sender(redis_client, allow_private=True)
    uid = final_order(send.store, server.url + "/ok")
    delivery = send.deliver(send.store.get(uid))
    assert delivery == Delivery(True, "HTTP 204")
    [seen] = server.seen
    assert (seen["method"], seen["path"]) == ("POST", "/ok")
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["Idempotency-Key"] == f"{uid}:placed"  # the same on a resend: receivers can drop it
    body = jsonio.loads(seen["body"])
    assert body == jsonio.loads(jsonio.dumps(view(send.store.get(uid).doc)))
    assert body["status"] == "placed" and body["order_details"]["pos_order_id"] == "P-1"
    assert body["order_details"]["loyalty"] == {"member": "L-1"}
    assert signing.verify(settings.digest_key, body, seen["headers"]["x-pch-digest"])


def test_a_failing_endpoint_is_not_delivered_and_not_permanent(redis_client, server):
    send, _ = sender(redis_client, allow_private=True)
    uid = final_order(send.store, server.url + "/broken")
    delivery = send.deliver(send.store.get(uid))
    assert (delivery.ok, delivery.permanent, delivery.reason) == (False, False, "HTTP 500")


def test_an_unreachable_endpoint_is_a_transient_failure(redis_client):
    from tests.support.helpers import free_port

    send, _ = sender(redis_client, allow_private=True)
    uid = final_order(send.store, f"http://127.0.0.1:{free_port()}/cb")
    delivery = send.deliver(send.store.get(uid))
    assert (delivery.ok, delivery.permanent) == (False, False)


def test_nothing_is_owed_for_an_open_order(redis_client, server):
    send, _ = sender(redis_client, allow_private=True)
    open_uid = final_order(send.store, server.url + "/ok", status="pending", uid="ord-open")
    assert send.move(open_uid) == "settled"
    assert send.move("gone") == "missing"
    assert server.seen == []


def test_a_failing_callback_is_retried_on_the_schedule_then_kept_for_replay(redis_client, server):
    send, settings = sender(redis_client, allow_private=True)
    uid = final_order(send.store, server.url + "/broken")
    outcomes = []
    for _ in range(settings.callback_max_attempts):
        redis_client.zadd("schedule", {f"c:{uid}": 0})  # due now (the test does not wait out the backoff)
        outcomes.append(send.move(uid))
    assert outcomes == ["retry"] * (settings.callback_max_attempts - 1) + ["dead"]
    assert [u for u, _ in send.store.indexes.dead_callbacks()] == [uid]
    assert send.store.get(uid).callback == "dead" and send.store.next_move(uid, Move.CALLBACK) is None
    assert len(server.seen) == settings.callback_max_attempts
    assert send.store.replay_callback(uid, "cli") == (True, "placed")
    assert send.store.indexes.dead_callbacks() == [] and send.store.get(uid).callback == "owed"


def test_a_port_out_of_range_is_a_permanent_refusal(redis_client):
    """Issue 11, finding 6."""
    send, _ = sender(redis_client, allow_private=True)
    uid = final_order(send.store, "http://127.0.0.1:99999/cb")
    delivery = send.deliver(send.store.get(uid))
    assert (delivery.ok, delivery.permanent) == (False, True) and delivery.reason.startswith("refused:")
    assert forbidden_address("http://127.0.0.1:99999/cb")


def test_a_failed_delivery_is_one_warning_line_naming_the_order_and_why(redis_client, server, caplog):
    """Issue 20, finding 3: failures upstream were visible nowhere but in the order's history."""
    send, _ = sender(redis_client, allow_private=True)
    uid = final_order(send.store, server.url + "/broken")
    with caplog.at_level("WARNING"):
        assert send.move(uid) == "retry"
    lines = [r for r in caplog.records if r.getMessage() == "callback delivery failed"]
    assert len(lines) == 1 and lines[0].request_uid == uid and lines[0].reason == "HTTP 500"
