"""Settings is typed from the table (issue 22): each service variable is one typed attribute,
declared once with its row, so a misspelled setting or a wrong type fails mypy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

from app.settings import VARIABLES, Settings

ROOT = Path(__file__).resolve().parents[3]


def test_every_service_variable_is_a_settings_attribute_of_its_parsers_type():
    hints = typing.get_type_hints(Settings)
    fields = [field.name for field in dataclasses.fields(Settings)]
    assert fields == [var.attr for var in VARIABLES if var.attr]
    for var in VARIABLES:
        if not var.attr:
            continue
        parsed = typing.get_type_hints(var.parse)["return"]
        declared = hints[var.attr]
        if var.attr == "broker_url":  # load_settings fills it from REDIS_URL when unset
            assert declared is str
        elif var.default is None:
            assert declared in (parsed | None, parsed), (var.name, declared, parsed)
        else:
            assert declared == parsed, (var.name, declared, parsed)


def test_a_misspelled_or_mistyped_setting_fails_mypy(tmp_path):
    (tmp_path / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\nfollow_imports = silent\n")
    (tmp_path / "uses_settings.py").write_text(
        "from app.settings import load_settings\n"
        "settings = load_settings()\n"
        "budget: int = settings.inline_budget_msx\n"
        "name: str = settings.inline_budget_ms\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            str(tmp_path / "uses_settings.py"),
        ],
        cwd=ROOT,
        env={"MYPYPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert '"Settings" has no attribute "inline_budget_msx"' in done.stdout, done.stdout + done.stderr
    assert 'expression has type "int", variable has type "str"' in done.stdout, done.stdout + done.stderr
