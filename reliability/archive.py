"""The archive in the reliability run (issue 21): a PostgreSQL of the run's own, the mover
at a few seconds, its faults, and a reader that polls answered orders the whole time.

PostgreSQL: the tests' throwaway cluster (tests/support/postgres.py: Debian's binaries, a
temporary data directory, a free port), migrated once before the stack starts, as a release
would. The stack runs with ARCHIVE_URL on it and ARCHIVE_AFTER_SECONDS of AFTER_SECONDS, so
beat's mover (workers/archive.py) runs every second and most finals leave Redis within the run.

Faults, on the process track (reliability/faults.py dispatches KINDS here):
- `kill_mover`: waits for a mover run (its lock, `archive:mover`, names the holder host:pid),
  SIGKILLs the Celery worker holding it: every other time (the first included) while the run
  waits inside its archive write on the table the harness holds locked, else a random moment
  later; restarts it;
- `kill_postgres`: SIGKILL of the postmaster and every backend (no shutdown, no checkpoint: a
  crash), down a few seconds, restarted (crash recovery). The window lasts until it answers.

The reader (Reads) polls, a few times a second, orders the load already got a 2xx for (half of
them old enough to have moved), and notes each answer, its Retry-After, and whether Redis still
held the order after the answer (not: it was read from the archive). reliability/archive_checks.py
judges them.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass

import psutil
import requests
import sqlalchemy as sa

from app.archive import Archive
from app.archive.mover import LOCK_KEY
from app.archive.schema import migrate, orders
from app.orders.store import OrderStore
from tests.support.postgres import Cluster as Postgres

AFTER_SECONDS = 4
KINDS = ("kill_mover", "kill_postgres")
AWAY = ("kill_postgres", "cut_postgres")  # the kinds during which the archive is away (cut: cluster/)
WORKERS = ("worker1", "worker2")


class Server:
    """The run's own PostgreSQL, and its crash."""

    def __init__(self, pg: Postgres | None = None):
        self.pg = pg or Postgres()
        self.url = self.pg.url

    def start(self) -> Server:
        self.pg.start()
        self.wait()
        migrate(Archive(self.url, timeout=10.0).engine, time.time())
        return self

    def wait(self, timeout: float = 60) -> None:
        archive = Archive(self.url, timeout=1.0)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                try:
                    with archive.engine.connect() as conn:
                        conn.exec_driver_sql("SELECT 1")
                    return
                except Exception:  # noqa: BLE001 - starting, or in crash recovery
                    time.sleep(0.1)
        finally:
            archive.engine.dispose()
        raise TimeoutError("PostgreSQL did not answer")

    def postmaster(self) -> psutil.Process:
        with open(os.path.join(self.pg.data, "postmaster.pid"), encoding="utf-8") as fh:
            return psutil.Process(int(fh.readline()))

    def kill(self) -> int:
        """SIGKILL the postmaster and its backends at once (a crash of the whole server)."""
        master = self.postmaster()
        every = [master, *master.children(recursive=True)]
        for process in every:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(every, timeout=10)
        return len(every)

    def restart(self) -> None:
        self.pg.start()
        self.wait()

    def remove(self) -> None:
        self.pg.remove()


def env(server: Server) -> dict[str, str]:
    """The stack's settings for the run (reliability.cluster.Cluster's overrides)."""
    return {"ARCHIVE_URL": server.url, "ARCHIVE_AFTER_SECONDS": str(AFTER_SECONDS)}


def attach(cluster, server: Server) -> Archive:
    """The harness reads through to the archive as the service does (its records, histories)."""
    archive = Archive(server.url, timeout=5.0)
    cluster.store = OrderStore(cluster.redis, archive=archive)
    cluster.archive_server = server
    return archive


# -- faults (the process track) ----------------------------------------------------------------
def inject(cluster, kind: str, rng: random.Random, scale: float) -> str:
    server: Server = cluster.archive_server
    if kind == "kill_postgres":
        killed = server.kill()
        down = rng.uniform(1.0, 3.0) * scale
        time.sleep(down)
        started = time.monotonic()
        server.restart()
        return (
            f"SIGKILL PostgreSQL ({killed} processes), down {down:.1f}s, back after recovery in "
            f"{time.monotonic() - started:.1f}s"
        )
    return _kill_mover(cluster, rng)


def _kill_mover(cluster, rng: random.Random, timeout: float = 20.0) -> str:
    """SIGKILL the worker whose mover run holds the lock: every other time a random moment after
    it took it (a run with a few orders due takes milliseconds: mostly just after it), else with
    the archive's table held (LOCK TABLE, reads still pass) so that the run waits inside its
    write, and the kill lands there, before its commit."""
    cluster.mover_kills = getattr(cluster, "mover_kills", 0) + 1
    held = _hold_table(cluster.archive_server) if cluster.mover_kills % 2 else None  # the first, third, ...
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            holder = cluster.redis.get(LOCK_KEY)
            label = _holder(cluster, holder)
            if label is not None:
                waited = _writing(held, 0.5) if held is not None else False
                if held is not None and not waited and time.monotonic() < end - 3:
                    while cluster.redis.get(LOCK_KEY) == holder and time.monotonic() < end:
                        time.sleep(0.005)  # this run had nothing to write: the next one
                    continue
                delay = rng.uniform(0.0, 0.004)
                time.sleep(delay)
                cluster.kill(label)
                still = cluster.redis.get(LOCK_KEY) == holder  # never given back: killed mid-run
                break
            time.sleep(0.001)
        else:
            raise TimeoutError(f"no mover run in a worker within {timeout:.0f}s")
    finally:
        if held is not None:
            held.rollback()
            held.close()
            held.engine.dispose()
    time.sleep(rng.uniform(0.3, 1.5))
    cluster.start_worker(int(label[-1]))
    cluster.wait_for_workers(cluster.workers)
    when = "waiting in its archive write" if waited else "mid-run" if still else "just after its run"
    return f"SIGKILL {label} ({holder.decode()}) {delay * 1000:.0f} ms after its mover took the lock ({when})"


def _hold_table(server: Server):
    """A connection holding the archive's table in EXCLUSIVE mode (writes wait, reads pass)."""
    conn = Archive(server.url, timeout=5.0).engine.connect()
    conn.exec_driver_sql(f"LOCK TABLE {orders.name} IN EXCLUSIVE MODE")
    return conn


def _writing(held, seconds: float) -> bool:
    """Whether a write to the archive's table waits on the held lock (within `seconds`); asked
    on a connection of its own (pg_stat_activity is a snapshot for the length of a transaction)."""
    engine = sa.create_engine(held.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return _waits(conn, seconds)
    finally:
        engine.dispose()


def _waits(conn, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        waiting = conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE :insert"),
            {"insert": f"INSERT INTO {orders.name}%"},
        ).scalar()
        if waiting:
            return True
        time.sleep(0.005)
    return False


def _holder(cluster, holder: bytes | None) -> str | None:
    """The worker label whose process holds the lock (its value: host:pid), if one of ours."""
    if not holder:
        return None
    pid = holder.decode().rpartition(":")[2]
    return next(
        (
            label
            for label in WORKERS
            if label in cluster.stack.processes and str(cluster.stack.processes[label].pid) == pid
        ),
        None,
    )


# -- the reader --------------------------------------------------------------------------------
@dataclass
class Read:
    uid: str
    started: float
    ended: float
    status: int | None
    shown: str | None  # the body's status
    retry_after: str | None
    archived: bool  # Redis no longer held the order after the answer: it was read from the archive
    error: str = ""
    host: str = ""


class Reads:
    """Polls answered orders while the run goes on (a thread), keeping every answer."""

    def __init__(self, client, redis, seed: int, rate: float = 6.0):
        self.client, self.journal, self.redis = client, client.journal, redis  # a reliability.load.Client
        self.rng = random.Random(f"archive-reads-{seed}")
        self.rate = rate
        self.reads: list[Read] = []
        self.answered: dict[str, float] = {}  # uid -> when the load first got a 2xx for it
        self._seen = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="archive-reads", daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {client.token}"

    def start(self) -> Reads:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)

    def _refresh(self) -> None:
        with self.journal.lock:
            calls = self.journal.calls[self._seen :]
            self._seen = len(self.journal.calls)
        for call in calls:  # submits answered 2xx (not validate-only: never recorded)
            planned = self.journal.planned.get(call.uid)
            if call.kind != "poll" and call.status in (200, 202) and planned and planned.expect != "validated":
                self.answered.setdefault(call.uid, call.ended)

    def _pick(self) -> str | None:
        self._refresh()
        if not self.answered:
            return None
        old = [u for u, at in self.answered.items() if at < time.time() - AFTER_SECONDS - 2]
        pool = old if old and self.rng.random() < 0.6 else list(self.answered)
        return self.rng.choice(pool)

    def _loop(self) -> None:
        while not self.stopping.wait(1.0 / self.rate):
            uid = self._pick()
            if uid is not None:
                self.reads.append(self.read(uid))

    def read(self, uid: str) -> Read:
        started, base = time.time(), self.client.base_url
        status = shown = retry_after = None
        error = ""
        try:
            response = self.session.get(f"{base}/posnext/orders/{uid}", timeout=30)
            status, retry_after = response.status_code, response.headers.get("Retry-After")
            try:
                shown = response.json().get("status")
            except ValueError:
                error = "answer is not JSON"
        except requests.RequestException as exc:
            error = type(exc).__name__
            self.session.close()
        ended = time.time()
        try:
            archived = status == 200 and not self.redis.exists(f"order:{uid}")
        except Exception:  # noqa: BLE001 - Redis away: where it was read from is unknown
            archived = False
        return Read(uid, started, ended, status, shown, retry_after, archived, error, base)
