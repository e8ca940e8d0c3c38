"""The cluster harness's own parts that run without root: its invariants, the delaying and
re-pointable TCP proxy, and PAR's client spreading requests over the web hosts."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

from cluster.__main__ import SpreadClient
from cluster.faults import FailoverEvidence
from cluster.invariants import check_failover_finals, check_fault_counts
from cluster.proxy import Proxy
from reliability.load import Journal


def order(status):
    return SimpleNamespace(status=status)


def test_an_order_answered_final_before_a_failover_must_read_back_the_same_after_it():
    kept = FailoverEvidence(1.0, ("10.0.0.1", 6379), ("10.0.0.2", 6379), {"a": "placed", "b": "rejected"},
                            {"a": "placed", "b": "rejected"})
    lost = FailoverEvidence(2.0, ("10.0.0.2", 6379), ("10.0.0.1", 6379), {"a": "placed", "c": "placed"},
                            {"a": "placed", "c": None})
    check = check_failover_finals([kept, lost], {"a": order("placed"), "b": order("rejected"), "c": None})
    assert check.checked == 4
    assert check.violations == ["failover 2 (10.0.0.2 killed): c answered placed, read back as None"]


def test_an_order_lost_once_is_named_once_and_a_later_change_is_caught_at_the_end():
    first = FailoverEvidence(1.0, ("h1", 1), ("h2", 1), {"c": "placed"}, {"c": None})
    second = FailoverEvidence(2.0, ("h2", 1), ("h1", 1), {"c": "placed", "d": "placed"},
                              {"c": None, "d": "placed"})
    check = check_failover_finals([first, second], {"c": None, "d": order("errored")})
    assert len(check.violations) == 2
    assert "failover 1" in check.violations[0] and ": c " in check.violations[0]
    assert check.violations[1] == "failover 2: d answered placed, at the end errored"


def test_every_fault_kind_must_have_run_the_rounds_asked():
    check = check_fault_counts({"failover": 5, "web_cut": 4}, ("failover", "web_cut", "worker_cut"), 5)
    assert check.violations == ["web_cut: 4 times", "worker_cut: 0 times"]


def echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(100), b"")],
                             daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def round_trip(port: int) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"ping")
        return sock.recv(100), time.monotonic() - started


def test_the_proxy_adds_its_delay_each_way_and_new_connections_follow_a_new_target():
    first, first_port = echo_server()
    second, second_port = echo_server()
    proxy = Proxy(("127.0.0.1", 0), ("127.0.0.1", first_port), delay=0.2).start()
    try:
        data, took = round_trip(proxy.listen[1])
        assert data == b"ping" and took >= 0.4  # 0.2 s out, 0.2 s back
        proxy.delay = 0.0
        first.close()  # the old node is gone; the endpoint now names the other one
        proxy.target = ("127.0.0.1", second_port)
        data, took = round_trip(proxy.listen[1])
        assert data == b"ping" and took < 0.4
        assert proxy.accepted == 2
    finally:
        proxy.stop()
        second.close()


def test_pars_client_spreads_requests_over_every_web_host_in_turn():
    client = SpreadClient(["http://a", "http://b"], "token", Journal())
    assert [client.base_url for _ in range(4)] == ["http://a", "http://b", "http://a", "http://b"]
