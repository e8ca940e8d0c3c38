"""The archive on a host of its own (issue 21): PostgreSQL in the `postgres` namespace (the
tests' throwaway cluster, tests/support/postgres.py, listening on the host's address), migrated
once before the stack starts; the stack's ARCHIVE_URL names it and ARCHIVE_AFTER_SECONDS is a
few seconds (reliability.archive.AFTER_SECONDS), so beat's mover moves most finals within the run.

Fault `cut_postgres` (hosts track): the PostgreSQL host's only link down for a few seconds, as
the other hosts' cuts: the web's and the mover's connections to it go silent (no refusal), the
mover pauses, a submit or an archived order's poll answers 503 + Retry-After; nothing may be lost.
"""

from __future__ import annotations

import random
import time

from reliability.archive import AFTER_SECONDS, Server
from tests.support.postgres import Cluster as Postgres

HOST = "postgres"
PORT = 5432
KINDS = ("cut_postgres",)


def settings(ip: str) -> dict[str, str]:
    return {"ARCHIVE_URL": f"postgresql://postgres@{ip}:{PORT}/postgres", "ARCHIVE_AFTER_SECONDS": str(AFTER_SECONDS)}


def start(host) -> Server:
    """PostgreSQL on `host` (a cluster.netns.Host), started and migrated."""
    return Server(Postgres(listen=host.ip, prefix=tuple(host.prefix), port=PORT)).start()


def cut(top, rng: random.Random, scale: float) -> str:
    host = top.hosts[HOST]
    lasting = rng.uniform(3.0, 8.0) * max(scale, 0.75)
    host.link(False)
    try:
        time.sleep(lasting)
    finally:
        host.link(True)
    return f"{HOST} cut off for {lasting:.1f}s"
