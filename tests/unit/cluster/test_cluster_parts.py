"""The cluster harness's own parts that run without root: its invariants, the delaying and
re-pointable TCP proxy, and PAR's client spreading requests over the web hosts."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

from cluster.__main__ import SpreadClient
from cluster.faults import FailoverEvidence
from cluster.invariants import (
    check_accepted_kept,
    check_failover_finals,
    check_fault_counts,
    excuse_lost_delivery_marks,
)
from cluster.proxy import Proxy
from harness.faults import Window
from reliability.invariants import Check
from reliability.load import Journal
from reliability.receiver import Delivery


def order(status):
    return SimpleNamespace(status=status)


def test_an_order_answered_final_before_a_failover_must_read_back_the_same_after_it():
    kept = FailoverEvidence(
        1.0, ("10.0.0.1", 6379), ("10.0.0.2", 6379), {"a": "placed", "b": "rejected"}, {"a": "placed", "b": "rejected"}
    )
    lost = FailoverEvidence(
        2.0, ("10.0.0.2", 6379), ("10.0.0.1", 6379), {"a": "placed", "c": "placed"}, {"a": "placed", "c": None}
    )
    check = check_failover_finals([kept, lost], {"a": order("placed"), "b": order("rejected"), "c": None})
    assert check.checked == 4
    assert check.violations == ["failover 2 (10.0.0.2 killed): c answered placed, read back as None"]


def test_an_order_lost_once_is_named_once_and_a_later_change_is_caught_at_the_end():
    first = FailoverEvidence(1.0, ("h1", 1), ("h2", 1), {"c": "placed"}, {"c": None})
    second = FailoverEvidence(2.0, ("h2", 1), ("h1", 1), {"c": "placed", "d": "placed"}, {"c": None, "d": "placed"})
    check = check_failover_finals([first, second], {"c": None, "d": order("errored")})
    assert len(check.violations) == 2
    assert "failover 1" in check.violations[0] and ": c " in check.violations[0]
    assert check.violations[1] == "failover 2: d answered placed, at the end errored"


def test_an_order_answered_200_or_202_before_a_failover_must_have_a_record_after_it_named_once():
    first = FailoverEvidence(
        1.0, ("h1", 1), ("h2", 1), {}, kind="replica_cut_promoted", accepted={"a", "b", "c"}, kept={"a"}
    )
    second = FailoverEvidence(2.0, ("h2", 1), ("h1", 1), {}, accepted={"a", "b", "c", "d"}, kept={"a", "d"})
    check = check_accepted_kept([first, second])
    assert check.violations == [
        "replica_cut_promoted 1 (h1 killed): b was answered 200/202, no record on the promoted node",
        "replica_cut_promoted 1 (h1 killed): c was answered 200/202, no record on the promoted node",
    ]
    assert check.checked == 5  # b and c are named at the failover that lost them only


class Deliveries:
    def __init__(self, *deliveries: Delivery):
        self.deliveries = deliveries

    def for_uid(self, uid: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.uid == uid]


def test_a_callback_resent_because_its_delivery_record_was_lost_with_the_primary_is_excused_once():
    cut = FailoverEvidence(20.0, ("h1", 1), ("h2", 1), {}, kind="replica_cut_promoted", cut_at=10.0)

    def sent(uid: str, at: float) -> Delivery:
        return Delivery(uid, at, "placed", True, 204, f"{uid}:placed")

    receiver = Deliveries(
        sent("lost", 12.0),
        sent("lost", 30.0),
        sent("kept", 5.0),
        sent("kept", 30.0),
        sent("twice", 12.0),
        sent("twice", 30.0),
        sent("twice", 31.0),
    )
    check = Check(
        "no callback delivered twice automatically (receiver's count per request_uid)",
        violations=[
            "lost: 2 deliveries, 1 after the one answered 204",
            "kept: 2 deliveries, 1 after the one answered 204",
            "twice: 3 deliveries, 2 after the one answered 204",
        ],
    )
    assert excuse_lost_delivery_marks(check, receiver, [cut]) == 1
    # delivered before the cut (its record was on the replica), or resent twice: still violations
    assert check.violations == [
        "kept: 2 deliveries, 1 after the one answered 204",
        "twice: 3 deliveries, 2 after the one answered 204",
    ]
    plain = FailoverEvidence(20.0, ("h1", 1), ("h2", 1), {})  # a plain failover: the last LAG seconds only
    check = Check("x", violations=["lost: 2 deliveries, 1 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, receiver, [plain]) == 0
    # its sender cut off as the answer came: it could not record it before its claim lapsed
    check = Check("x", violations=["lost: 2 deliveries, 1 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, receiver, [], [Window("worker_cut", 12.5, 32.5, "")]) == 1
    check = Check("x", violations=["lost: 2 deliveries, 1 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, receiver, [], [Window("worker_cut", 14.0, 32.5, "")]) == 0
    # lost twice: in the cut, then the resend's record within LAG of a second kill
    again = FailoverEvidence(33.0, ("h2", 1), ("h1", 1), {})
    chained = Deliveries(sent("lost", 12.0), sent("lost", 30.0), sent("lost", 40.0))
    check = Check("x", violations=["lost: 3 deliveries, 2 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, chained, [cut, again]) == 1


def test_a_callback_answered_after_the_kill_and_before_the_old_node_returned_is_excused_once():
    """The cluster run, seed 11 (2026-12-07): a callback POSTed while the primary was alive, answered
    204 20 ms after its SIGKILL (and another 0.64 s after), its record due on the dead node; the
    promoted node sent it again. No POST can be decided between the kill and the killed node's
    restart (the promoted node has no replica: no probe passes), so every 2xx in that span came
    from a POST in flight at the kill."""
    failover = FailoverEvidence(20.0, ("h1", 1), ("h2", 1), {}, restarted_at=24.0)

    def sent(uid: str, at: float) -> Delivery:
        return Delivery(uid, at, "placed", True, 204, f"{uid}:placed")

    check = Check("x", violations=["in_flight: 2 deliveries, 1 after the one answered 204"])
    assert (
        excuse_lost_delivery_marks(check, Deliveries(sent("in_flight", 20.02), sent("in_flight", 27.0)), [failover])
        == 1
    )
    # answered once the old node was back (a POST decided after the kill, its record durable): no excuse
    check = Check("x", violations=["later: 2 deliveries, 1 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, Deliveries(sent("later", 24.5), sent("later", 30.0)), [failover]) == 0
    # without a restart time (a fault that failed before it), the kill itself ends the span
    bare = FailoverEvidence(20.0, ("h1", 1), ("h2", 1), {})
    check = Check("x", violations=["in_flight: 2 deliveries, 1 after the one answered 204"])
    assert excuse_lost_delivery_marks(check, Deliveries(sent("in_flight", 20.02), sent("in_flight", 27.0)), [bare]) == 0


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
            threading.Thread(
                target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(100), b"")], daemon=True
            ).start()

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


def test_a_cut_link_carries_no_byte_and_no_close_either_way():
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    proxy = Proxy(("127.0.0.1", 0), ("127.0.0.1", server.getsockname()[1])).start()
    try:
        client = socket.create_connection(("127.0.0.1", proxy.listen[1]), timeout=5)
        client.sendall(b"before")
        while not accepted:
            time.sleep(0.01)
        far = accepted[0]
        far.settimeout(5)
        assert far.recv(100) == b"before"
        proxy.cut()
        client.sendall(b"lost")
        far.sendall(b"lost too")
        far.close()  # the far end goes away: the near end is not told either
        client.settimeout(0.5)
        try:
            heard = client.recv(100)
        except TimeoutError:
            heard = None
        assert heard is None  # no byte, and no close (b"")
    finally:
        proxy.stop()
        server.close()


def test_pars_client_spreads_requests_over_every_web_host_in_turn():
    client = SpreadClient(["http://a", "http://b"], "token", Journal())
    assert [client.base_url for _ in range(4)] == ["http://a", "http://b", "http://a", "http://b"]
