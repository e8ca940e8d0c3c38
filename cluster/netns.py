"""Hosts on one machine: a network namespace each, joined by veth pairs to one bridge.

Addresses are in 10.212.0.0/24, inside this machine only; the bridge's own address (.1) is
where the harness (PAR's client, the callback receiver) sits. Every name starts with the
branch prefix `h12`; `Net.remove()` deletes all it made, and `Net.sweep()` what an earlier
run killed mid-way left behind. Needs root (CAP_NET_ADMIN).

Two runs on one machine at once (two checkouts, say) would sweep each other's hosts away: give
the second its own prefix and subnet, CLUSTER_NETNS_PREFIX=h13 CLUSTER_NETNS_SUBNET=10.213.0.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

# another run on the same machine at once (another worktree) takes its own prefix and subnet:
# Net.create sweeps every namespace of its prefix first
PREFIX = os.environ.get("CLUSTER_NETNS_PREFIX", "h12")
BRIDGE = f"{PREFIX}br0"
SUBNET = os.environ.get("CLUSTER_NETNS_SUBNET", "10.212.0")
GATEWAY = f"{SUBNET}.1"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


@dataclass
class Host:
    name: str
    ip: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def veth(self) -> str:
        return f"{PREFIX}v-{self.name}"[:15]

    @property
    def prefix(self) -> list[str]:
        """Run a command on this host."""
        return ["ip", "netns", "exec", self.netns]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(*self.prefix, *args, check=check)

    def link(self, up: bool) -> None:
        """The host's only link down (cut off from every other host) or back up."""
        self.run("ip", "link", "set", "eth0", "up" if up else "down")


class Net:
    def __init__(self):
        self.hosts: dict[str, Host] = {}

    @staticmethod
    def available() -> str | None:
        """Why the harness cannot run here, or None."""
        probe = sh("ip", "netns", "add", f"{PREFIX}-probe", check=False)
        if probe.returncode != 0:
            return f"ip netns add failed (root and CAP_NET_ADMIN needed): {probe.stderr.strip()}"
        sh("ip", "netns", "del", f"{PREFIX}-probe", check=False)
        return None

    @staticmethod
    def netem() -> bool:
        """Whether the kernel has sch_netem (tc qdisc ... netem)."""
        sh("ip", "netns", "add", f"{PREFIX}-probe", check=False)
        try:
            sh("ip", "netns", "exec", f"{PREFIX}-probe", "ip", "link", "set", "lo", "up", check=False)
            result = sh(
                "ip",
                "netns",
                "exec",
                f"{PREFIX}-probe",
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "1ms",
                check=False,
            )
            return result.returncode == 0
        finally:
            sh("ip", "netns", "del", f"{PREFIX}-probe", check=False)

    @staticmethod
    def sweep(timeout: float = 20.0) -> None:
        """Every namespace and link of ours gone; the kernel tears a namespace's veth down
        asynchronously, so wait until no `{PREFIX}v-` link is left."""
        for name in sh("ip", "netns", "list", check=False).stdout.split("\n"):
            name = name.split(" ")[0]
            if name.startswith(f"{PREFIX}-"):
                sh("ip", "netns", "del", name, check=False)
        sh("ip", "link", "del", BRIDGE, check=False)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            links = [
                line.split(":")[1].strip().split("@")[0]
                for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines()
                if line.count(":") >= 2
            ]
            left = [link for link in links if link.startswith(f"{PREFIX}v-")]
            if not left:
                return
            for link in left:
                sh("ip", "link", "del", link, check=False)
            time.sleep(0.2)

    def create(self, names: list[str]) -> dict[str, Host]:
        self.sweep()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for index, name in enumerate(names, start=10):
            host = Host(name, f"{SUBNET}.{index}")
            sh("ip", "netns", "add", host.netns)
            sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            sh("ip", "link", "set", host.veth, "master", BRIDGE)
            sh("ip", "link", "set", host.veth, "up")
            host.run("ip", "addr", "add", f"{host.ip}/24", "dev", "eth0")
            host.run("ip", "link", "set", "eth0", "up")
            host.run("ip", "link", "set", "lo", "up")
            self.hosts[name] = host
        return self.hosts

    def remove(self) -> None:
        self.sweep()
        self.hosts.clear()
