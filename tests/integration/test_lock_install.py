"""The lock installs on a clean clone: `git clone` of this commit into a temporary directory, a
fresh venv, `pip install --require-hashes -r requirements.lock`, the project without
dependencies, then its console script answers `--help` with nothing configured."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bin.stack import ROOT


def run(*args: str, cwd=None, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done


@pytest.mark.timeout(1200)
def test_the_lock_installs_on_a_clean_clone(tmp_path):
    clone = tmp_path / "clone"
    run("git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone))
    run(sys.executable, "-m", "venv", str(tmp_path / "venv"))
    python = str(tmp_path / "venv" / "bin" / "python")
    run(python, "-m", "pip", "install", "-q", "--require-hashes", "-r", "requirements.lock", cwd=clone)
    run(python, "-m", "pip", "install", "-q", "--no-deps", ".", cwd=clone)
    run(python, "-m", "pip", "check", cwd=tmp_path)
    helped = run(str(tmp_path / "venv" / "bin" / "posbridge"), "--help", cwd=tmp_path)
    assert "orders" in helped.stdout and "sample" in helped.stdout
