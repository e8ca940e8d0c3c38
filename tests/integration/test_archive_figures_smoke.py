"""`python -m bench.archive_figures` runs (a small size): the command docs/SCALING.md's archive
figures came from, on a real redis-server, both archives."""

from __future__ import annotations

import json
import subprocess
import sys

from bin.stack import ROOT


def test_the_archive_figures_run(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.archive_figures",
            "--orders",
            "400",
            "--real",
            "100",
            "--batch",
            "50",
            "--reads",
            "3",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {run["archive"]: run for run in json.loads(out.read_text())["runs"]}
    for run in runs.values():
        assert run["moved"] == 400 and run["left_in_redis"] == 0
        assert 1000 < run["redis_bytes_per_order"] < 20000 and 500 < run["archive_bytes_per_order"] < 20000
        assert run["redis_bytes_after_move"] < run["redis_bytes_per_order"] * 400 / 10
    assert set(runs) == {"sqlite", "postgresql"}
