"""PostgreSQL on a host of its own (a network namespace) whose link goes down: the archive's
call on a pooled connection ends as ArchiveUnavailable (the web answers 503 + Retry-After)
within seconds, not when the link comes back or TCP gives up (app/archive/db.py,
silent_server_bounds); once the link is back, it answers again. Root (ip netns) and Debian's
PostgreSQL binaries (bin/ensure-postgresql) needed."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
import time

import pytest

from app.archive import Archive, ArchiveUnavailable
from app.archive.schema import migrate
from tests.support.postgres import Cluster

NS, BRIDGE, VETH = "arch-pg", "archpgbr0", "archpgv"
GATEWAY, ADDRESS = "10.215.0.1", "10.215.0.10"
CUT_SECONDS = 15.0

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not glob.glob("/usr/lib/postgresql/*/bin/initdb"),
    reason="needs root for ip netns, and PostgreSQL's binaries",
)


def sh(*args: str, check: bool = True) -> None:
    subprocess.run(args, check=check, capture_output=True)


def link(up: bool) -> None:
    sh("ip", "netns", "exec", NS, "ip", "link", "set", "eth0", "up" if up else "down")


@pytest.fixture
def postgres_host():
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", VETH, "type", "veth", "peer", "name", "eth0", "netns", NS)
    sh("ip", "link", "set", VETH, "master", BRIDGE)
    sh("ip", "link", "set", VETH, "up")
    for args in (
        ("ip", "addr", "add", f"{ADDRESS}/24", "dev", "eth0"),
        ("ip", "link", "set", "eth0", "up"),
        ("ip", "link", "set", "lo", "up"),
    ):
        sh("ip", "netns", "exec", NS, *args)
    cluster = Cluster(listen=ADDRESS, prefix=("ip", "netns", "exec", NS))
    try:
        cluster.start()
        yield cluster
    finally:
        link(True)
        cluster.remove()
        sh("ip", "netns", "del", NS, check=False)
        sh("ip", "link", "del", BRIDGE, check=False)


@pytest.mark.timeout(120)
def test_a_cut_off_archive_is_unavailable_within_seconds_and_answers_once_back(postgres_host):
    archive = Archive(postgres_host.url, timeout=2.0)
    try:
        migrate(archive.engine, time.time())
        assert archive.get("u-1") is None  # a pooled connection, as a serving process holds
        link(False)
        cut = time.monotonic()
        back = threading.Timer(CUT_SECONDS, link, args=(True,))
        back.start()
        with pytest.raises(ArchiveUnavailable):
            archive.get("u-1")
        took = time.monotonic() - cut
        assert took < CUT_SECONDS / 2, f"the call waited {took:.1f}s on a server cut off"
        back.join()
        end = time.monotonic() + 30
        while True:
            try:
                assert archive.get("u-1") is None
                break
            except ArchiveUnavailable:
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)
    finally:
        archive.engine.dispose()
