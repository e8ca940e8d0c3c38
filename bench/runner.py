"""Running one load against one web variant, with the CPU every process spent on it.

The load generator runs in its own process (bench/loadgen.py, started once a run), each load
bounded in time; its summary
comes back with the CPU seconds of the target's processes, the POS simulator, Redis and the
Celery workers over the same window, so every figure can be read per request too.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import psutil

from bench.stacks import SHARED_ID, BenchStack
from bin.stack import ROOT

PATHS = {
    "validate": "/posnext/order/validate",
    "submit": "/posnext/order/submit",
    "bare": "/bare",
    "bare_redis": "/bare-redis",
}


@dataclass
class Mode:
    name: str
    seconds: float  # measured window of one load
    warmup: float  # unmeasured start of each load (connections opened)
    reps: int  # each figure is the median of this many loads
    soak: float  # seconds of load the main web process sees before its RSS is read again
    chunk: float  # one load of the soak
    orders: int  # orders (and no-op tasks) per workers run
    overrun: int  # orders in the overrun case
    clients: tuple[int, ...] = (50, 200)
    latencies: tuple[int, ...] = (50, 200)


MODES = {
    "smoke": Mode("smoke", seconds=1.0, warmup=0.3, reps=1, soak=4, chunk=2, orders=100, overrun=4),
    "quick": Mode("quick", seconds=3.0, warmup=0.5, reps=1, soak=60, chunk=15, orders=600, overrun=10),
    "full": Mode("full", seconds=4.0, warmup=0.8, reps=3, soak=600, chunk=40, orders=800, overrun=20),
}


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, ours and others')."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class Load:
    """The median of a figure's repeated loads, and each load's summary."""

    runs: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs) if self.runs else 0.0

    def share(self, status: str) -> float:
        """Share of answers with this status over every run."""
        total = sum(sum(run["statuses"].values()) for run in self.runs)
        return sum(run["statuses"].get(status, 0) for run in self.runs) / total if total else 0.0


class Runner:
    def __init__(self, stack: BenchStack, mode: Mode):
        self.stack = stack
        self.mode = mode
        self.loaded_seconds: dict[str, float] = {}
        self.generator: subprocess.Popen[str] | None = None

    def _generate(self, spec: dict, limit: float) -> dict:
        """One load by the generator process (started on first use, kept for the run)."""
        if self.generator is None or self.generator.poll() is not None:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            self.generator = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"],
                cwd=ROOT,
                env=env,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        stdin, stdout = self.generator.stdin, self.generator.stdout
        assert stdin is not None and stdout is not None  # both PIPE
        stdin.write(json.dumps(spec) + "\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], limit)
        line = stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError(f"the load generator gave no answer within {limit:.0f} s")
        return json.loads(line)

    def close(self) -> None:
        if self.generator is not None:
            if self.generator.stdin is not None:
                self.generator.stdin.close()
            try:
                self.generator.wait(10)
            except subprocess.TimeoutExpired:
                self.generator.kill()
                self.generator.wait(5)
            self.generator = None

    def cpu_snapshot(self, labels: list[str]) -> dict[str, float]:
        snap = {label: self.stack.cpu(label) for label in labels}
        snap["redis"] = self.stack.redis_cpu()
        return snap

    def load(
        self, label: str, kind: str, clients: int, seconds: float | None = None, location_id: str = "loc-001"
    ) -> dict:
        """One closed-loop load against a web variant; its summary with `cpu_ms` per request."""
        seconds = seconds or self.mode.seconds
        path = PATHS[kind]
        spec = {
            "url": self.stack.url(label, path),
            "kind": kind,
            "clients": clients,
            "seconds": seconds,
            "warmup": self.mode.warmup,
            "shared_id": SHARED_ID,
            "token": self.stack.token,
            "location_id": location_id,
            "ramp": self.mode.warmup / 2,
        }
        others = [name for name in self.stack.stack.processes if name.startswith(("possim", "worker"))]
        labels = [label, *others]
        before, machine, started = self.cpu_snapshot(labels), busy_seconds(), time.monotonic()
        result = self._generate(spec, seconds + self.mode.warmup + 90)
        wall = time.monotonic() - started
        after = self.cpu_snapshot(labels)
        spent = {name: after[name] - before[name] for name in before}
        answered = max(result["total"], 1)
        result["cpu_ms"] = {name: 1000 * value / answered for name, value in spent.items()}
        result["cpu_ms"]["loadgen"] = 1000 * result["cpu_s"] / answered
        result["server_cpu_ms"] = sum(v for k, v in result["cpu_ms"].items() if k != "loadgen")
        result["others_cores"] = max(0.0, (busy_seconds() - machine - sum(spent.values()) - result["cpu_s"]) / wall)
        self.loaded_seconds[label] = self.loaded_seconds.get(label, 0.0) + wall
        return result

    def repeat(self, plans: list[tuple[str, str, int]], location_id: str = "loc-001") -> list[Load]:
        """Each (label, kind, clients) load `reps` times, interleaved so drift hits all alike."""
        loads = [Load() for _ in plans]
        for _ in range(self.mode.reps):
            for load, (label, kind, clients) in zip(loads, plans, strict=True):
                load.runs.append(self.load(label, kind, clients, location_id=location_id))
        return loads
