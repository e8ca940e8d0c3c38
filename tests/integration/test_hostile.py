"""The standing hostile-input run in its CI size against the real stack: `python -m hostile --short`
(docs/SECURITY.md): no 5xx, no answer over 1 s, no digest on an unverified answer, no state change
from a refused request, flat RSS, Flower wholly behind its password."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bin.stack import ROOT

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
def test_the_short_hostile_run_finds_nothing(tmp_path):
    report = tmp_path / "hostile.json"
    run = subprocess.run(
        [sys.executable, "-m", "hostile", "--short", "--report", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )
    result = json.loads(report.read_text())
    assert result["findings"] == [], run.stdout[-4000:]
    assert run.returncode == 0
    assert result["requests"] >= 400
    assert result["status_counts"].get("flower 401") == 4
    for status in ("408", "413", "414", "431"):
        assert result["status_counts"].get(status), status
