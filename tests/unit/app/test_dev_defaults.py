"""./dev serve's defaults live in app/dev_defaults.py (the CLI reads them; bin/run.py starts the
service with them): the same checkout directory as bin/stack.py's, POSBRIDGE_VAR_DIR obeyed, and
this checkout's secrets made once, then read again."""

from __future__ import annotations

import stat

from app import dev_defaults
from bin.stack import ROOT


def test_the_checkout_and_its_var_directory(monkeypatch, tmp_path):
    assert dev_defaults.ROOT == ROOT
    monkeypatch.delenv("POSBRIDGE_VAR_DIR", raising=False)
    assert dev_defaults.var_dir() == ROOT / "var"
    monkeypatch.setenv("POSBRIDGE_VAR_DIR", str(tmp_path))
    assert dev_defaults.var_dir() == tmp_path


def test_the_checkout_secrets_are_made_once_and_kept_private(monkeypatch, tmp_path):
    monkeypatch.setenv("POSBRIDGE_VAR_DIR", str(tmp_path))
    first = dict(dev_defaults.DEV_DEFAULTS)
    assert set(dev_defaults.SECRET_MAKERS) <= set(first) and first["PORT"] == "8000"
    assert dict(dev_defaults.DEV_DEFAULTS) == first
    assert stat.S_IMODE((tmp_path / dev_defaults.SECRETS_FILE).stat().st_mode) == 0o600
