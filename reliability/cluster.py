"""The stack under test: an embedded redis-server with AOF on, the POS simulator, gunicorn,
two or more Celery workers and two beats, all from the Procfile (harness/stack.py), and the
calls the fault injector makes on it beyond the core's (a beat, a skewed clock)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import cast

from app.orders.keys import FOUND_KEY
from app.orders.store import OrderStore
from bin.stack import ROOT, short_env
from harness.stack import LocalStack, Secrets

SECRETS = Secrets(
    "reliability-jwt-secret-0123456789abcdef",  # a throwaway stack's own secrets
    "Reliability-Shared-0123",
    "reliability-pos-token",
)
JWT_SECRET, SHARED_ID, POS_TOKEN = SECRETS.jwt_secret, SECRETS.shared_id, SECRETS.pos_token
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


# settings that let deadlines pass within the run: short max-async, reconcile window and sweep; a
# retry cap (4 s) small enough for retries to happen within a deadline and large enough for the
# backoff bound (reliability.bounds) to tell backing off from not; a callback bounded to 3 s as a
# whole (the trickling receiver answers for longer), retried within seconds
ENV = {
    "ORDER_MAX_ASYNC_SECONDS": "15",
    "WEB_GRACEFUL_TIMEOUT": "5",
    "RECONCILE_SECONDS": "8",
    "CLOCK_SKEW_SECONDS": "1",
    "RETRY_CAP_SECONDS": "4",
    "CALLBACK_TIMEOUT_SECONDS": "3",
    "CALLBACK_BACKOFF_BASE_SECONDS": "0.5",
    "CALLBACK_BACKOFF_CAP_SECONDS": "2",
}


def stack_env(redis_url: str, **overrides: object) -> dict[str, str]:
    """bin/stack.short_env with ENV (the cluster harness's hosts)."""
    return short_env(redis_url, POS_TOKEN, SHARED_ID, JWT_SECRET, **{**ENV, **overrides})


def ensure_faketime() -> str | None:
    """The `faketime` command (libfaketime), installed by bin/ensure-faketime if missing; None
    when it cannot be had (the skewed_worker fault then reports the failure)."""
    if shutil.which("faketime") is None:
        subprocess.run(ENSURE_FAKETIME, check=False, timeout=600)
    return shutil.which("faketime")


class Cluster(LocalStack):
    """Two or more workers, two beats; `loc-002`'s POS ignores not_after for the whole run."""

    def __init__(self, work_dir: str, workers: int = 2, env: Mapping[str, str] | None = None):
        super().__init__(work_dir, SECRETS, env={**ENV, **(env or {})})
        self.workers = workers
        self.store = OrderStore(self.redis)
        self.settings = {k: self.env[k] for k in SETTINGS}

    def start(self) -> Cluster:
        self.redis_server.start()
        self.start_possim()
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

    def found(self) -> set[str]:
        """The orders listed for on-call: placements found at the POS after the fact (orders:reconcile:found)."""
        return {u.decode() for u in cast(list[bytes], self.redis.zrange(FOUND_KEY, 0, -1))}
