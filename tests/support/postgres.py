"""PostgreSQL for the tests: the server on 127.0.0.1:5432 where one answers (a fresh database
per use, dropped after), else a throwaway cluster from Debian's binaries (/usr/lib/postgresql/*/bin,
installed by bin/ensure-postgresql) in a temporary directory."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

SHARED = ("127.0.0.1", 5432)


def _answers(host: str, port: int) -> bool:
    try:
        engine = sa.create_engine(f"postgresql+psycopg://postgres@{host}:{port}/postgres",
                                  connect_args={"connect_timeout": 2})
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
    """A throwaway PostgreSQL: initdb, start, stop, restart (as user postgres when run as root)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="posbridge-pg-")
        self.port = _free_port()
        self.bin = binaries()
        self.data = os.path.join(self.dir, "data")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, os.path.join(self.bin, tool), *args], check=True, capture_output=True,
                       timeout=60)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate`: as a crash (no checkpoint; open transactions are lost)."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def database():
    """A PostgreSQL URL of an empty database, for the duration."""
    if _answers(*SHARED):
        name = f"posbridge_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(f"postgresql+psycopg://postgres@{SHARED[0]}:{SHARED[1]}/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"postgresql://postgres@{SHARED[0]}:{SHARED[1]}/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    cluster = Cluster()
    try:
        cluster.start()
        deadline = time.monotonic() + 20
        while not _answers("127.0.0.1", cluster.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield cluster.url
    finally:
        cluster.remove()
