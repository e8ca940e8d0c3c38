"""PostgreSQL for the tests: the server on 127.0.0.1:5432 where one answers, else one throwaway
cluster for the run from Debian's binaries (/usr/lib/postgresql/*/bin, installed by
bin/ensure-postgresql) in a temporary directory; each use gets a fresh database, dropped after.
POSBRIDGE_TEST_POSTGRES=own skips the shared server (to try the other path). Tests that stop
and start PostgreSQL make a `Cluster` of their own."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager, suppress

import sqlalchemy as sa

SHARED = ("127.0.0.1", 5432)


def _answers(host: str, port: int) -> bool:
    try:
        engine = sa.create_engine(
            f"postgresql+psycopg://postgres@{host}:{port}/postgres", connect_args={"connect_timeout": 2}
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


def binaries() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL binaries: run bin/ensure-postgresql")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL: initdb, start, stop, restart (as user postgres when run as root).
    `listen` and `prefix`: another address, and a command its tools run under (the cluster
    harness's `ip netns exec HOST`: PostgreSQL on a host of its own, trusting every client)."""

    def __init__(self, listen: str = "127.0.0.1", prefix: tuple[str, ...] = (), port: int | None = None):
        self.dir = tempfile.mkdtemp(prefix="posbridge-pg-")
        self.listen = listen
        self.port = port or _free_port()
        self.bin = binaries()
        self.data = os.path.join(self.dir, "data")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.as_user = [*prefix, *self.as_user]
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")
        if listen != "127.0.0.1":
            with open(os.path.join(self.data, "pg_hba.conf"), "a", encoding="utf-8") as hba:
                hba.write("host all all all trust\n")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, os.path.join(self.bin, tool), *args], check=True, capture_output=True, timeout=60
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses={self.listen} -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate`: as a crash (no checkpoint; open transactions are lost)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.listen}:{self.port}/postgres"

    def remove(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_OWN: list[Cluster] = []  # one throwaway cluster for the whole test run, when no shared server answers


def server() -> tuple[str, int]:
    """The shared server where it answers (unless POSBRIDGE_TEST_POSTGRES=own), else this run's own."""
    if os.environ.get("POSBRIDGE_TEST_POSTGRES") != "own" and _answers(*SHARED):
        return SHARED
    if not _OWN:
        cluster = Cluster()
        cluster.start()
        atexit.register(cluster.remove)
        deadline = time.monotonic() + 20
        while not _answers("127.0.0.1", cluster.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        _OWN.append(cluster)
    return "127.0.0.1", _OWN[0].port


@contextmanager
def database():
    """A PostgreSQL URL of an empty database of its own, dropped after."""
    host, port = server()
    name = f"posbridge_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"postgresql+psycopg://postgres@{host}:{port}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{host}:{port}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
