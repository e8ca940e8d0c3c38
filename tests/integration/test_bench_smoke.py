"""The benchmark cannot rot: its smoke mode runs every case against the real stack.

No figure is checked (timings belong in docs/BENCHMARKS.md, not in tests): only that the
run completes, prints a table row for every measurement, and leaves the docs alone.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bin.stack import ROOT

SUBMIT_MEASURES = (
    "share of 200s",
    "orders/s vs Little",
    "orders/s vs naive peer",
    "p50 - POS latency ms",
    "p99 - POS latency ms",
    "CPU ms/order",
)
EXPECTED = [
    *[
        (case, f"{measure} vs {label}")
        for case in (
            "vs earlier mains, validate x 50",
            "vs earlier mains, submit, POS 50 ms x 50",
            "vs earlier mains, submit, POS 200 ms x 200",
        )
        for measure in ("web CPU ms/request", "requests/s", "share of 200s")
        for label in ("previous", "engine-v1")
    ],
    ("vs earlier mains, validate x 50", "web CPU ms/request, issue 14's goal"),
    ("vs earlier mains, submit, POS 50 ms x 50", "web CPU ms/request, issue 14's goal"),
    ("validate, 50 conns", "requests/s"),
    ("validate, 50 conns", "requests/s vs bare Flask + 1 Redis GET"),
    ("validate, 50 conns", "p50 ms"),
    ("validate, 50 conns", "p99 ms"),
    ("validate, 50 conns", "server CPU ms/request"),
    *[
        (f"submit, POS {latency} ms x {clients}", measure)
        for latency in (50, 200)
        for clients in (50, 200)
        for measure in SUBMIT_MEASURES
    ],
    ("web worker class, POS 200 ms x 50", "orders/s gevent vs gthread"),
    ("web worker class, POS 200 ms x 200", "p99 ms gevent vs gthread"),
    ("overrun, POS 3000 ms, budget 2500 ms", "answered 202 / placed"),
    ("overrun, POS 3000 ms, budget 2500 ms", "202 after the budget ms"),
    ("overrun, POS 3000 ms, budget 2500 ms", "final visible after POS answer ms"),
    ("memory, web", "after warm-up"),
    ("memory, worker", "after warm-up"),
    ("memory", "soak samples (web MB)"),
    ("memory", "soak samples (worker MB)"),
    *[(f"workers, {count} process(es), POS 0 ms", "orders/s vs bare Celery no-op tasks/s") for count in (1, 2, 4)],
    ("workers, 1 -> 2 processes", "orders/s scaling"),
    ("workers, 1 -> 4 processes", "orders/s scaling"),
    ("Celery pool, no-op tasks", "tasks/s gevent 100 vs prefork 4"),
    ("Celery pool, POS 200 ms", "orders/s gevent 100 vs prefork 4"),
]


def test_bench_smoke_runs_every_case_and_prints_every_row():
    docs = ROOT / "docs" / "BENCHMARKS.md"
    before = docs.read_bytes() if docs.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table = done.stdout.split("\n\n")[0].splitlines()
    assert table[0].split() == ["case", "measure", "ours", "baseline", "ratio", "goal", "met"]
    for case, measure in EXPECTED:
        matching = [line for line in table if line.startswith(case) and measure in line]
        assert matching, f"no row for {case!r} / {measure!r} in:\n{done.stdout}"
        for line in matching:
            assert "nan" not in line.lower().split() and "inf" not in line, line
    assert f"{len(table) - 2} rows" in done.stdout
    assert (docs.read_bytes() if docs.exists() else None) == before


def test_web_profile_runs_and_prints_every_section(tmp_path):
    """bench/web_profile.py for a second of validates (about 25 s): each of its four sections is
    printed (a tool this machine lacks is reported as such), and the JSON holds the CPU figure."""
    out = tmp_path / "profile.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.web_profile", "--seconds", "1", "--kind", "validate", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    for section in ("1. ", "2. ", "3. ", "4. "):
        assert any(line.startswith(section) for line in lines), done.stdout
    (report,) = json.loads(out.read_text())
    assert report["kind"] == "validate" and report["cpu"]["total_ms"] > 0
