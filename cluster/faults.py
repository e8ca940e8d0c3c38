"""Faults across hosts, on two tracks at once, each kind in every shuffled round:

redis track:  failover (SIGKILL of the Redis primary; the Sentinels promote the replica; the old
              one returns as a replica), worker_latency (2 s added to every round trip between
              one worker host and Redis for a while), replica_cut_promoted (the replica's host
              cut off while submits go on; then the primary's host dies, its link and its
              redis-server, and the Sentinels promote the replica that missed everything
              written during the cut; issue 18, finding 3).
hosts track:  worker_cut (a worker host's link down for 20 s), web_cut (a web host's link down
              for 2-5 s while requests are in flight), clock_fast / clock_slow (worker1's
              processes restarted under libfaketime +30 s, worker2's -30 s, for a while).

Latency: the kernel here has no sch_netem (`tc ... netem`: "Specified qdisc kind is unknown"),
so an iptables REDIRECT in the worker's namespace sends its Redis connections (port 6379)
through cluster/proxy.py, which delays each chunk 1 s each way (2 s per round trip) and
leaves from a second address the rule skips. Existing connections are cut on the primary
(CLIENT KILL) so that the worker reconnects through the proxy.

Each failover also snapshots the orders answered final before the kill and reads them back
after it (the invariant of cluster/invariants.py).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from dataclasses import dataclass, field

import redis

from cluster import archive
from cluster.hosts import REDIS_PORT, SKEW, Topology
from cluster.netns import Host
from cluster.redisgroup import Node
from harness.faults import Tracks
from reliability.faults import STALE_CONNECTIONS, WEB_CUT_OFF
from reliability.invariants import FINAL
from reliability.load import Journal

REDIS_KINDS = ("failover", "worker_latency", "replica_cut_promoted")
HOST_KINDS: tuple[str, ...] = ("worker_cut", "web_cut", "clock_fast", "clock_slow")
HOST_KINDS += archive.KINDS  # the PostgreSQL host cut off (cluster/archive.py)
# what the reliability checks excuse
ALIASES = {"failover": "restart_redis", "replica_cut_promoted": "restart_redis", "web_cut": "kill_web"}
PROXY_PORT = 16379


@dataclass
class FailoverEvidence:
    killed_at: float
    old: tuple[str, int]
    new: tuple[str, int] | None
    answered: dict[str, str]  # uid -> final status answered before the kill
    after: dict[str, str | None] = field(default_factory=dict)  # uid -> status read after the failover
    kind: str = "failover"
    cut_at: float = 0.0  # replica_cut_promoted: when the replica was cut off (nothing since reached it)
    accepted: set[str] = field(default_factory=set)  # orders answered 200 or 202 before the kill
    kept: set[str] = field(default_factory=set)  # of those, the ones with a record after the failover
    # when the killed node was started again: until then the promoted node had no replica, so no
    # callback POST could pass its probe, and a 2xx answered between the kill and this moment came
    # from a POST decided before the kill, whose record could not be written on the dead node
    restarted_at: float = 0.0


class Injector(Tracks):
    def __init__(
        self,
        top: Topology,
        journal: Journal,
        seed: int,
        short: bool,
        rounds: int,
        harsh: bool = False,
        skip: tuple[str, ...] = (),
    ):
        super().__init__(
            random.Random(f"cluster-faults-{seed}"),
            scale=0.5 if short else 1.0,
            rounds=rounds,
            aliases=ALIASES,
            uncounted=(STALE_CONNECTIONS, WEB_CUT_OFF),
            join=180,
        )
        self.top = top
        self.kinds = tuple(k for k in REDIS_KINDS + HOST_KINDS if k not in skip)  # what this run injects
        self.harsh = harsh  # the next failover may come before the returned node holds a full copy
        self.journal = journal
        self.failovers: list[FailoverEvidence] = []
        for kinds, name in ((REDIS_KINDS, "redis"), (HOST_KINDS, "hosts")):
            self.track(name, tuple(k for k in kinds if k in self.kinds), self._inject, (1.0, 3.0))

    def _inject(self, kind: str) -> str:
        detail: str = getattr(self, f"_{kind}")()
        return detail

    # -- the redis track --------------------------------------------------------------------
    def _answered_final(self, before: float) -> dict[str, str]:
        answered: dict[str, str] = {}
        with self.journal.lock:
            calls = list(self.journal.calls)
        for call in calls:
            body = call.body if isinstance(call.body, dict) else {}
            if call.status == 200 and call.ended < before and body.get("status") in FINAL:
                answered[call.uid] = body["status"]
        return answered

    def _accepted(self, before: float) -> set[str]:
        """Orders answered 200 or 202 before `before` (a validate-only request records nothing)."""
        with self.journal.lock:
            recorded = {uid for uid, p in self.journal.planned.items() if p.expect not in ("validated", "refused")}
            return {
                c.uid for c in self.journal.calls if c.status in (200, 202) and c.ended < before and c.uid in recorded
            }

    def _kill_primary(self, kind: str, host_dies: bool = False) -> tuple[Node, FailoverEvidence]:
        """SIGKILL the primary, noting first what PAR was answered; `host_dies`: its host's link
        goes down first (the machine is gone: its kernel sends no byte more, not even to a replica)."""
        node = self.top.group.primary()
        killed_at = time.time()
        evidence = FailoverEvidence(
            killed_at,
            node.address,
            None,
            self._answered_final(killed_at),
            kind=kind,
            accepted=self._accepted(killed_at),
        )
        if host_dies:
            self._host_of(node).link(False)
        node.kill()
        self.failovers.append(evidence)
        return node, evidence

    def _read_back(self, evidence: FailoverEvidence, within: float = 60.0) -> None:
        """Right after the promotion: what the new primary holds of what PAR was answered (the
        harness's own client may still hold connections to the dead node: retried)."""
        end = time.monotonic() + within
        for uid in sorted(evidence.accepted | set(evidence.answered)):
            while True:
                try:
                    order = self.top.store.get(uid)
                    break
                except redis.RedisError:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.2)
            if uid in evidence.answered:
                evidence.after[uid] = order.status if order is not None else None
            if order is not None:
                evidence.kept.add(uid)

    def _host_of(self, node: Node) -> Host:
        return next(h for h in self.top.hosts.values() if h.ip == node.host)

    def _failover(self) -> str:
        group = self.top.group
        node, evidence = self._kill_primary("failover")
        evidence.new = group.wait_failover(node.address, timeout=60)
        took = time.time() - evidence.killed_at
        self._read_back(evidence)
        evidence.restarted_at = time.time()
        group.restart(node, evidence.new)
        group.wait_replicated(node, 60, offsets=not self.harsh)
        return (
            f"SIGKILL primary {node.name}; {evidence.new[0]} promoted after {took:.1f}s; "
            f"{len(evidence.answered)} finals, {len(evidence.accepted)} answered orders read back"
        )

    def _replica_cut_promoted(self) -> str:
        """The replica's host cut off (WAIT can no longer be acknowledged: under DURABILITY=replica
        nothing new is promised), submits going on; then the primary's host dies, the replica's
        link comes back, and the Sentinels promote it: what was written during the cut is gone."""
        group = self.top.group
        replica = next(n for n in group.nodes if n.address != group.primary_address())
        lasting = self.rng.uniform(6.0, 10.0) * self.scale
        cut_at = time.time()
        self._host_of(replica).link(False)
        try:
            time.sleep(lasting)
            node, evidence = self._kill_primary("replica_cut_promoted", host_dies=True)
            evidence.cut_at = cut_at
        finally:
            self._host_of(replica).link(True)
        try:
            evidence.new = group.wait_failover(node.address, timeout=90)
            took = time.time() - evidence.killed_at
        finally:  # promoted, the replica has closed its link to the dead node: nothing of it can arrive now
            self._host_of(node).link(True)
        try:
            self._read_back(evidence)
        finally:
            evidence.restarted_at = time.time()
            group.restart(node, evidence.new)
            group.wait_replicated(node, 60)
        return (
            f"{replica.name} cut off {lasting:.1f}s (answers then: {self._answers(cut_at, evidence.killed_at)}); "
            f"then {node.name}'s host died; {replica.name} promoted after {took:.1f}s; "
            f"{len(evidence.answered)} finals, {len(evidence.accepted)} answered orders read back"
        )

    def _answers(self, start: float, end: float) -> str:
        """What PAR's submits sent and answered between `start` and `end` got, by HTTP status."""
        counts: dict[str, int] = {}
        with self.journal.lock:
            for call in self.journal.calls:
                if call.kind != "poll" and start <= call.started and call.ended <= end:
                    counts[str(call.status)] = counts.get(str(call.status), 0) + 1
        return ", ".join(f"{status} x{n}" for status, n in sorted(counts.items())) or "none"

    def _worker_latency(self) -> str:
        name = self.rng.choice(("worker1", "worker2"))
        host = self.top.hosts[name]
        source = host.ip.rsplit(".", 1)[0] + "." + str(100 + int(host.ip.rsplit(".", 1)[1]))
        rule = [
            "OUTPUT",
            "-p",
            "tcp",
            "--dport",
            str(REDIS_PORT),
            "!",
            "-s",
            source,
            "-j",
            "REDIRECT",
            "--to-ports",
            str(PROXY_PORT),
        ]
        host.run("ip", "addr", "add", f"{source}/24", "dev", "eth0", check=False)
        proxy = subprocess.Popen(
            [
                *host.prefix,
                sys.executable,
                "-m",
                "cluster.proxy",
                "--listen",
                f"0.0.0.0:{PROXY_PORT}",
                "--delay",
                "1.0",
                "--source",
                source,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        lasting = self.rng.uniform(8.0, 15.0) * self.scale
        try:
            time.sleep(0.5)
            host.run("iptables", "-t", "nat", "-A", *rule)
            killed = self._kill_clients_from(host.ip)
            time.sleep(lasting)
        finally:
            host.run("iptables", "-t", "nat", "-D", *rule, check=False)
            proxy.kill()
            proxy.wait(10)
        return f"{name}: +2 s per round trip to Redis for {lasting:.1f}s ({killed} connections moved)"

    def _kill_clients_from(self, ip: str) -> int:
        client = self.top.group.primary().client()
        killed = 0
        for entry in client.client_list():
            if entry.get("addr", "").startswith(f"{ip}:"):
                try:
                    client.client_kill(entry["addr"])
                    killed += 1
                except Exception:  # noqa: BLE001, S110 - it may have gone by itself
                    pass
        return killed

    # -- the hosts track --------------------------------------------------------------------
    def _worker_cut(self) -> str:
        name = self.rng.choice(("worker1", "worker2"))
        host = self.top.hosts[name]
        host.link(False)
        try:
            time.sleep(20.0)
        finally:
            host.link(True)
        return f"{name} cut off for 20 s"

    def _web_cut(self) -> str:
        name = self.rng.choice(("web1", "web2"))
        host = self.top.hosts[name]
        lasting = self.rng.uniform(2.0, 5.0)
        cut = time.time()
        host.link(False)
        try:
            time.sleep(lasting)
        finally:
            host.link(True)
            back = time.time()
            url = next(u for u in self.top.web_urls() if f"//{host.ip}:" in u)
            # see WEB_CUT_OFF, STALE_CONNECTIONS; tests/integration/test_cluster_stale_connection.py
            self.record(WEB_CUT_OFF, cut, back, f"{name}: cut off from Redis mid-request", host=url)
            detail = f"{name}: keep-alive connections closed during the cut"
            self.record(STALE_CONNECTIONS, back, back + lasting + 1.0, detail, host=url)
        return f"{name} cut off for {lasting:.1f}s"

    def _skew(self, name: str) -> str:
        lasting = self.rng.uniform(8.0, 15.0) * self.scale
        self.top.restart_worker(name, skewed=True)
        try:
            time.sleep(lasting)
        finally:
            self.top.restart_worker(name, skewed=False)
        return f"{name} under faketime {SKEW[name]} for {lasting:.1f}s"

    def _clock_fast(self) -> str:
        return self._skew("worker1")

    def _clock_slow(self) -> str:
        return self._skew("worker2")

    def _cut_postgres(self) -> str:
        return archive.cut(self.top, self.rng, self.scale)
