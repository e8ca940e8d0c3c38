"""Faults injected while the load runs, on two tracks at once.

Process track: SIGKILL of Celery workers (restarted), SIGKILL of the whole web process
(gunicorn master and workers, restarted), a clean stop and restart of redis-server (same port
and directory: the AOF keeps the data). POS track: the simulator's knobs: down, error rate,
ambiguous errors (created, then 500), hangs, slowdowns above and below the inline budget,
and refusals (an item the cached menu still offers, or the location closed).

Every fault is recorded as a window, so the checks know when a 503 or an unanswered request
was to be expected.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from reliability.cluster import LOCATIONS, Cluster

log = logging.getLogger("reliability")
PROCESS_KINDS = ("kill_worker", "kill_web", "restart_redis")
POS_KINDS = ("pos_down", "pos_errors", "pos_ambiguous", "pos_hang", "slow_above_budget", "slow_below_budget",
             "pos_refuses")


@dataclass
class Window:
    kind: str
    start: float
    end: float
    detail: str = ""


class Injector:
    def __init__(self, cluster: Cluster, seed: int, budget_ms: int, short: bool = False):
        self.cluster = cluster
        self.scale = 0.5 if short else 1.0  # --short: one round of every kind fits in its load
        self.rng = random.Random(f"faults-{seed}")
        self.budget_ms = budget_ms
        self.windows: list[Window] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._track, args=(PROCESS_KINDS, self._process, (2.0, 6.0)),
                                         name="faults-process", daemon=True),
                        threading.Thread(target=self._track, args=(POS_KINDS, self._pos, (0.5, 2.0)),
                                         name="faults-pos", daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(120)

    def count(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for window in self.windows:
            counts[window.kind] = counts.get(window.kind, 0) + 1
        return counts

    def _track(self, kinds: tuple[str, ...], inject, gaps: tuple[float, float]) -> None:
        """Every kind in a shuffled round, round after round, until stopped; the first round
        always completes, so every kind is injected in every run."""
        rounds = 0
        while rounds == 0 or not self.stopping.is_set():
            round_ = list(kinds)
            self.rng.shuffle(round_)
            for kind in round_:
                if self.stopping.wait(self.rng.uniform(*gaps) * self.scale) and rounds:
                    return
                started = time.time()
                try:
                    detail = inject(kind)
                except Exception as exc:  # noqa: BLE001 - a failed fault is reported, never hidden
                    detail = f"failed: {type(exc).__name__}: {exc}"
                    self.errors.append(f"{kind}: {detail}")
                with self.lock:
                    self.windows.append(Window(kind, started, time.time(), detail))
            rounds += 1

    # -- the process track ---------------------------------------------------------------
    def _process(self, kind: str) -> str:
        cluster = self.cluster
        if kind == "kill_worker":
            count = 2 if self.rng.random() < 0.25 else 1
            labels = self.rng.sample(range(1, cluster.workers + 1), min(count, cluster.workers))
            for index in labels:
                cluster.kill(f"worker{index}")
            time.sleep(self.rng.uniform(0.5, 2.0))
            for index in labels:
                cluster.start_worker(index)
            cluster.wait_for_workers(cluster.workers)
            return f"SIGKILL worker{','.join(map(str, labels))}"
        if kind == "kill_web":
            cluster.kill("web")
            time.sleep(self.rng.uniform(0.3, 1.5))
            cluster.start_web()
            return "SIGKILL gunicorn (master and workers)"
        down = self.rng.uniform(1.0, 4.0)
        cluster.stop_redis()
        time.sleep(down)
        cluster.start_redis()
        return f"redis-server stopped {down:.1f}s"

    # -- the POS track -------------------------------------------------------------------
    def _pos(self, kind: str) -> str:
        rng, cluster = self.rng, self.cluster
        where = rng.choice(("*", *LOCATIONS))
        knobs: dict = {}
        if kind == "pos_down":
            knobs = {"down": True}
        elif kind == "pos_errors":
            knobs = {"error_rate": rng.choice((0.3, 0.6, 1.0)), "error_status": rng.choice((500, 503, 429))}
        elif kind == "pos_ambiguous":
            knobs = {"ambiguous_error_rate": rng.choice((0.3, 0.6))}
        elif kind == "pos_hang":
            knobs = {"hang_seconds": rng.uniform(1.0, 5.0)}
        elif kind == "slow_above_budget":
            knobs = {"latency_ms": self.budget_ms + rng.randint(200, 2500), "latency_jitter_ms": 300}
        elif kind == "slow_below_budget":
            knobs = {"latency_ms": rng.randint(50, self.budget_ms // 2), "latency_jitter_ms": 100}
        else:
            knobs = rng.choice(({"items": {"item-003": False}}, {"accepting_orders": False}))
        lasting = rng.uniform(2.0, 6.0) * self.scale
        cluster.knobs(where, **knobs)
        try:
            time.sleep(lasting)
        finally:
            cluster.knobs(where, **dict.fromkeys(knobs))
        return f"{where} {knobs} for {lasting:.1f}s"
