"""Callback delivery connects to the address it vetted: one resolution, no DNS rebinding."""

from __future__ import annotations

import ipaddress
import socket

import pytest
import urllib3.util.connection

from app import safe_http
from tests.support.helpers import LocalServer


def flip_flop(first: str, then: str):
    """A resolver answering `first` to the first question about cb.example, then `then`."""
    real, asked = socket.getaddrinfo, []

    def resolve(host, port, *args, **kwargs):
        if host != "cb.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = first if len(asked) == 1 else then
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve, asked


def test_a_rebinding_name_never_reaches_loopback(monkeypatch, redis_client):
    """Issue 11, finding 5: the sender resolves cb.example once (public), and connects to that address: a resolver
    answering 127.0.0.1 the second time is never asked."""
    from app.callbacks import CallbackSender
    from app.orders.store import OrderStore
    from app.settings import load_settings
    from tests.conftest import BASE_ENV
    from tests.support.factories import final_order

    resolve, asked = flip_flop("93.184.216.34", "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    connected = []

    def record(address, *args, **kwargs):
        connected.append(address[0])
        raise ConnectionRefusedError("not really connecting")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", record)
    sender = CallbackSender(load_settings({**BASE_ENV, "CALLBACK_ALLOW_PRIVATE": "false"}), OrderStore(redis_client))
    uid = final_order(sender.store, "http://cb.example/cb")
    delivery = sender.deliver(sender.store.get(uid))
    assert (delivery.ok, delivery.permanent) == (False, False)  # refused connection: transient
    assert connected == ["93.184.216.34"] and len(asked) == 1


def test_the_connection_keeps_the_host_name_in_the_host_header():
    seen = []
    server = LocalServer(lambda method, path, headers, body: (seen.append(headers.get("Host")) or 204, b""))
    try:

        def resolve(host, port, *args, **kwargs):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        session = safe_http.pinned_session(allow_private=True, resolver=resolve)
        port = server.url.rsplit(":", 1)[1]
        r = session.post(f"http://cb.example:{port}/ok", data=b"{}", timeout=5)
        assert r.status_code == 204 and seen == [f"cb.example:{port}"]
    finally:
        server.close()


def test_a_private_answer_is_forbidden_and_nothing_is_sent():
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    with pytest.raises(safe_http.Forbidden):
        safe_http.pinned_session(resolver=resolve).post("http://cb.example/cb", data=b"{}", timeout=2)


def test_a_name_that_does_not_resolve_is_a_transient_connection_error():
    def resolve(host, port, *args, **kwargs):
        raise socket.gaierror("no such name")

    with pytest.raises(safe_http.Unresolvable) as caught:
        safe_http.vet("https://cb.example/", resolver=resolve)
    assert isinstance(caught.value, safe_http.requests.ConnectionError)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://h:0/", "http://h:65536/", "ftp://h/", "http:///x"])
def test_bad_ports_and_schemes_are_forbidden(url):
    with pytest.raises(safe_http.Forbidden):
        safe_http.target(url)


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::",
        "2002:0a00:0001::1",
        "fec0::1",
        "192.0.0.8",
        "192.0.0.170",
        "64:ff9b::7f00:1",
        "::ffff:127.0.0.1",
        "2001::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1",
        "2002:808:808::1",
        "100.64.0.1",
        "198.18.0.1",
        "240.0.0.1",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::",
        "::1",
        "0.0.0.0",
    ],
)
def test_only_global_unicast_is_public(address):
    """Issue 23, finding 10: 6to4 forms of loopback and link-local, site-local, 192.0.0.0/24, NAT64 and Teredo were
    passed (Python's is_global says True for several of them)."""
    assert not safe_http.public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e"])
def test_global_unicast_stays_public(address):
    assert safe_http.public(ipaddress.ip_address(address))
