"""bench/tracing.py cannot rot: a short run completes and prints every row of its table, and
the traced children did export (the sink received spans). No figure is checked."""

from __future__ import annotations

import re
import subprocess
import sys

from bin.stack import ROOT


def test_the_tracing_bench_runs_and_prints_its_table():
    done = subprocess.run(
        [sys.executable, "-m", "bench.tracing", "--n", "20", "--reps", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows == ["figure", "web CPU per submit", "wall time per submit", "`import redis`, once per process"], rows
    received = re.search(r"OTLP bytes received: (\d+)", done.stdout)
    assert received and int(received.group(1)) > 0, done.stdout
