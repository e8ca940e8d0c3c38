"""`./dev honcho start` (README): honcho runs the Procfile's commands from the project's venv
(a honcho installed elsewhere found no `gunicorn`), and the web's PORT is 8000, what the CLI and
the runbook expect, not honcho's own 5000 (issue 20, finding 7)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_runs_honcho_through_dev():
    assert re.search(r"^\./dev honcho start\b", (ROOT / "README.md").read_text(), re.M)


def test_dev_honcho_gives_the_procfile_the_venvs_commands_and_port_8000(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: sh -c 'echo gunicorn=$(command -v gunicorn) PORT=$PORT'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/bin:/bin"  # nothing activated: not the venv's bin
    done = subprocess.run(
        [str(ROOT / "dev"), "honcho", "start", "-f", str(procfile), "-d", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"gunicorn={ROOT / '.venv' / 'bin' / 'gunicorn'} PORT=8000" in done.stdout, done.stdout + done.stderr
