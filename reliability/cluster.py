"""The stack under test: an embedded redis-server with AOF on, the POS simulator, gunicorn,
two or more Celery workers and two beats, all from the Procfile (bin/stack.py), and the calls
the fault injector makes on it (kill, freeze, restart, a skewed clock, knobs)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import redis
import requests

from app.orders.store import FOUND_KEY, OrderStore
from bin.stack import ROOT, EmbeddedRedis, Stack, free_port, short_env, wait_for_http, wait_for_port, wait_for_workers
from bin.token import make_token

JWT_SECRET = "reliability-jwt-secret-0123456789abcdef"  # noqa: S105 - a throwaway stack's own secrets
SHARED_ID = "Reliability-Shared-0123"
POS_TOKEN = "reliability-pos-token"  # noqa: S105
KNOB_FIELDS = (
    "latency_ms",
    "latency_jitter_ms",
    "error_rate",
    "error_status",
    "ambiguous_error_rate",
    "down",
    "hang_seconds",
    "accepting_orders",
    "items",
    "lookup_down",
    "lookup_latency_ms",
    "void_window_ms",
)
LOCATIONS = ("loc-001", "loc-002")
# locations whose POS ignores not_after (possim's honour_not_after false, for the whole run): an
# order POSTed in time may be created after its deadline, and the engine must void it
LATE_LOCATIONS = ("loc-002",)
BEATS = (1, 2)
SETTINGS = (
    "INLINE_BUDGET_MS",
    "POS_CONNECT_TIMEOUT",
    "POS_READ_TIMEOUT",
    "ORDER_MAX_ASYNC_SECONDS",
    "RETRY_BASE_SECONDS",
    "RETRY_CAP_SECONDS",
    "RECONCILE_SECONDS",
    "CLOCK_SKEW_SECONDS",
    "SWEEP_SECONDS",
    "CALLBACK_TIMEOUT_SECONDS",
)
ENSURE_FAKETIME = ["bash", str(ROOT / "bin" / "ensure-faketime")]


def stack_env(redis_url: str, **overrides) -> dict[str, str]:
    """Settings that let deadlines pass within the run: short max-async, reconcile window and
    sweep; a retry cap (4 s) small enough for retries to happen within a deadline and large
    enough for the backoff bound (reliability.bounds) to tell backing off from not; a callback
    bounded to 3 s as a whole (the trickling receiver answers for longer), retried within seconds."""
    return short_env(
        redis_url,
        POS_TOKEN,
        SHARED_ID,
        JWT_SECRET,
        **{
            "ORDER_MAX_ASYNC_SECONDS": "15",
            "WEB_GRACEFUL_TIMEOUT": "5",
            "RECONCILE_SECONDS": "8",
            "CLOCK_SKEW_SECONDS": "1",
            "RETRY_CAP_SECONDS": "4",
            "CALLBACK_TIMEOUT_SECONDS": "3",
            "CALLBACK_BACKOFF_BASE_SECONDS": "0.5",
            "CALLBACK_BACKOFF_CAP_SECONDS": "2",
            **overrides,
        },
    )


def ensure_faketime() -> str | None:
    """The `faketime` command (libfaketime), installed by bin/ensure-faketime if missing; None
    when it cannot be had (the skewed_worker fault then reports the failure)."""
    if shutil.which("faketime") is None:
        subprocess.run(ENSURE_FAKETIME, check=False, timeout=600)
    return shutil.which("faketime")


class Cluster:
    def __init__(self, work_dir: str, workers: int = 2, **overrides):
        self.work_dir = work_dir
        self.redis_server = EmbeddedRedis(directory=os.path.join(work_dir, "redis"), appendonly=True)
        self.pos_port, self.web_port = free_port(), free_port()
        self.pos_url = f"http://127.0.0.1:{self.pos_port}"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = stack_env(
            self.redis_server.url, PORT=self.web_port, POSSIM_PORT=self.pos_port, POS_BASE_URL=self.pos_url, **overrides
        )
        self.stack = Stack(self.env, log_dir=os.path.join(work_dir, "logs"))
        self.workers = workers
        self.redis = redis.Redis.from_url(self.redis_server.url, socket_timeout=5, socket_connect_timeout=2)
        self.store = OrderStore(self.redis)
        self.pos = requests.Session()
        self.pos.headers["Authorization"] = f"Bearer {POS_TOKEN}"
        self.token = make_token(JWT_SECRET, seconds=24 * 3600)
        self.settings = {k: self.env[k] for k in SETTINGS}

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Cluster:
        self.redis_server.start()
        self.stack.start("possim")
        wait_for_port(self.pos_port, 20, self.stack.processes["possim"])
        for location in LATE_LOCATIONS:
            self.knobs(location, honour_not_after=False)
        self.start_web()
        for index in range(1, self.workers + 1):
            self.start_worker(index)
        for index in BEATS:
            self.start_beat(index)
        self.wait_for_workers(self.workers)
        return self

    def start_beat(self, index: int) -> None:
        """beat1, beat2: the Procfile's line twice (each its own schedule file, should the line use one)."""
        self.stack.start(
            "beat", label=f"beat{index}", BEAT_SCHEDULE_FILE=os.path.join(self.work_dir, f"beat{index}-schedule")
        )

    def stop(self) -> None:
        for label in list(self.stack.processes):
            self.thaw(label)  # a frozen process would not hear SIGTERM
        self.stack.stop_all()
        self.redis_server.stop()

    def start_web(self) -> None:
        self.stack.start("web")
        wait_for_http(f"{self.base_url}/healthz", 60, self.stack.processes["web"])

    def start_worker(self, index: int) -> None:
        self.stack.start("worker", label=f"worker{index}", WORKER_NAME=str(index))

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        wait_for_workers(self.redis_server.url, count, timeout)

    # -- faults -------------------------------------------------------------------------
    def kill(self, label: str) -> None:
        """SIGKILL a process group (gunicorn master and workers, or one Celery worker)."""
        self.stack.send(label, signal.SIGKILL)
        self.stack.processes[label].wait(10)

    def freeze(self, label: str) -> None:
        """SIGSTOP a process group: it keeps its sockets and claims and does nothing."""
        self.stack.send(label, signal.SIGSTOP)

    def thaw(self, label: str) -> None:
        self.stack.send(label, signal.SIGCONT)

    def kill_redis(self) -> None:
        """SIGKILL redis-server: no shutdown of its own."""
        self.redis_server.stop(kill=True)

    def start_skewed_worker(self, label: str, offset_seconds: int) -> None:
        """A Celery worker whose clock runs `offset_seconds` off (libfaketime; monotonic clocks
        left real, as on a host whose wall clock is wrong)."""
        if ensure_faketime() is None:
            raise RuntimeError("faketime is not installed and bin/ensure-faketime could not install it")
        self.stack.start(
            "worker",
            label=label,
            wrap=f"faketime -f {offset_seconds:+d}s",
            WORKER_NAME=label,
            FAKETIME_DONT_FAKE_MONOTONIC="1",
        )

    def stop_process(self, label: str, timeout: float = 10) -> None:
        self.stack.stop(label, timeout=timeout)
        self.stack.processes.pop(label, None)  # stopped on purpose: not one that exited on its own

    def exited(self) -> list[str]:
        """The processes that are not running now (each restart replaces the killed one), with
        the last line of their log that names an error."""
        out = []
        for label, process in self.stack.processes.items():
            if process.poll() is None:
                continue
            tail = self.stack.log(label).splitlines()[-5000:]
            critical = [line for line in tail if '"critical"' in line]
            errors = critical or [line for line in tail if any(w in line for w in ("error", "Error", "exception"))]
            out.append(f"{label} exited with {process.returncode}: {(errors or ['(no error logged)'])[-1][:300]}")
        return out

    def stop_redis(self) -> None:
        """A clean stop: redis-server flushes its AOF, so no acknowledged write is lost."""
        self.redis_server.stop()

    def start_redis(self, timeout: float = 30) -> None:
        """The same port and directory: the AOF brings every key back."""
        self.redis_server.start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.redis.ping()
                return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not come back")

    # -- the POS simulator --------------------------------------------------------------
    def knobs(self, location: str = "*", **fields) -> None:
        response = self.pos.put(f"{self.pos_url}/_admin/knobs/{location}", json=fields, timeout=10)
        response.raise_for_status()

    def clear_knobs(self) -> None:
        """Every knob back to its default (a merge patch of nulls); the ledger is kept."""
        for location in ("*", *LOCATIONS):
            self.knobs(location, **dict.fromkeys(KNOB_FIELDS))

    def ledger(self) -> list[dict]:
        return self.pos.get(f"{self.pos_url}/_admin/ledger", timeout=30).json()["orders"]

    def ledger_view(self) -> dict:
        """The ledger's orders and its calls per external_id ({"posts": n, "lookups": n})."""
        return self.pos.get(f"{self.pos_url}/_admin/ledger", timeout=60).json()

    def pos_calls(self, uid: str) -> dict:
        """The simulator's calls for one order ({"posts": n, "lookups": n, "voids": n}; {} none yet)."""
        view = self.pos.get(f"{self.pos_url}/_admin/ledger", params={"external_id": uid}, timeout=10).json()
        return view["calls"].get(uid, {})

    def found(self) -> set[str]:
        """The orders listed for on-call: placements found at the POS after the fact (orders:reconcile:found)."""
        return {u.decode() for u in self.redis.zrange(FOUND_KEY, 0, -1)}

    def pos_stats(self) -> dict:
        return self.pos.get(f"{self.pos_url}/_admin/stats", timeout=10).json()

    def log_tail(self, label: str, chars: int = 3000) -> str:
        return self.stack.log(label)[-chars:]
