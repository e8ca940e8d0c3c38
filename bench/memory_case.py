"""Memory: RSS of the web and worker processes at start and after steady load.

The soak drives the main web process with submits (POS 50 ms, 50 clients) in chunks, each
followed by a batch of orders through the worker, until the web process has been under load
for the mode's soak time in all (the earlier cases' loads count), reading RSS as it goes.
"""

from __future__ import annotations

from bench.report import Row, num
from bench.runner import Runner
from bench.worker_cases import Enqueuer

MB = 1024 * 1024


def rss(runner: Runner) -> dict[str, int]:
    return {"web": runner.stack.rss("web"), "worker": runner.stack.rss("worker1")}


def warm_worker(runner: Runner) -> None:
    """One batch of orders through the worker, so that its warm-up reading, like the web's, is
    taken after it has done its work once (its pool's greenlets, its POS and Redis connections)."""
    enqueuer = Enqueuer(runner.stack)
    try:
        enqueuer.orders_rate(max(50, runner.mode.orders // 5))
    finally:
        enqueuer.close()


def soak(runner: Runner, fresh: dict[str, int], warm: dict[str, int]) -> list[Row]:
    stack, mode = runner.stack, runner.mode
    stack.knobs("loc-001", latency_ms=50)
    enqueuer = Enqueuer(stack)
    samples = []
    try:
        while True:
            left = mode.soak - runner.loaded_seconds.get("web", 0.0)
            runner.load("web", "submit", 50, seconds=max(1.0, min(mode.chunk, left - mode.warmup)))
            enqueuer.orders_rate(max(50, mode.orders // 5))
            samples.append(rss(runner))
            if runner.loaded_seconds.get("web", 0.0) >= mode.soak:
                break
    finally:
        enqueuer.close()
        stack.knobs("loc-001", latency_ms=0)
    end = samples[-1]
    minutes = runner.loaded_seconds.get("web", 0.0) / 60
    rows = []
    for name in ("web", "worker"):
        growth = end[name] / warm[name] - 1 if warm[name] else 0.0
        peak = max(sample[name] for sample in samples)
        rows.append(
            Row(
                f"memory, {name} (RSS, all its processes)",
                f"after warm-up -> after {minutes:.1f} min of load (MB)",
                f"{warm[name] / MB:.0f} -> {end[name] / MB:.0f} (peak {peak / MB:.0f})",
                f"{fresh[name] / MB:.0f} fresh",
                f"{100 * growth:+.1f}%",
                "< +10%",
                growth < 0.10,
            )
        )
    for name in ("web", "worker"):
        rows.append(Row("memory", f"soak samples ({name} MB)", " ".join(num(s[name] / MB) for s in samples[-8:])))
    return rows
