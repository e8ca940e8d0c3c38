"""A reader that stops early (`posbridge orders list | head -1`) is not an error: no
`broker trouble: BrokenPipeError`, no exit 3 (issue 20, finding 5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_ENV

SCRIPT = shutil.which("posbridge", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("args", [("config", "env-example"), ("sign", "--example", "submit")])
def test_a_closed_stdout_is_not_an_error(args, tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [SCRIPT, *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**os.environ, **BASE_ENV},
            timeout=60,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
