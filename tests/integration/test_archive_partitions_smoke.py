"""`python -m bench.archive_partitions` runs (a small size): the command behind docs/SCALING.md's
"Day partitions" figures, on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

from bin.stack import ROOT


def test_the_partitions_comparison_runs_and_drops_one_day():
    done = subprocess.run(
        [sys.executable, "-m", "bench.archive_partitions", "--days", "3", "--per-day", "40", "--reads", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line[:28].strip(): line[28:].split() for line in done.stdout.splitlines()[2:]}
    assert set(rows) == {"fill rows/s", "poll p50 ms", "poll p99 ms", "retention of a day, s", "retention WAL MB"}
    assert all(len(values) == 3 for values in rows.values())
