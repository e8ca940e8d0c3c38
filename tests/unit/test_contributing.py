"""CONTRIBUTING.md's recipes stay true: what they cite exists, and each registry they name is
the one the code reads."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from app.pos import ADAPTERS
from app.settings import ConfigError, load_settings
from tests.conftest import BASE_ENV

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "CONTRIBUTING.md").read_text()
PATHS = r"\b((?:app|tests|possim|schemas|workers)/[\w/.]+\.py)\b"  # cited without backticks too
CITED = set(re.findall(r"`([^`\s]+)`", TEXT)) | set(re.findall(PATHS, TEXT))


@pytest.mark.parametrize("path", sorted(c for c in CITED if "/" in c and "<" not in c))
def test_every_cited_file_exists(path):
    assert (ROOT / path.rstrip("/")).exists(), path


@pytest.mark.parametrize("name", sorted(c for c in CITED if re.fullmatch(r"(app|schemas|workers)(\.\w+)+", c)))
def test_every_cited_name_resolves(name):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return
    pytest.fail(f"{name} does not import")


def test_the_adapter_registry_is_what_pos_adapter_accepts():
    for name in ADAPTERS:
        assert load_settings({**BASE_ENV, "POS_ADAPTER": name}).pos_adapter == name
    with pytest.raises(ConfigError):
        load_settings({**BASE_ENV, "POS_ADAPTER": "not-registered"})


def test_the_contract_test_runs_every_registered_adapter():
    contract = (ROOT / "tests/unit/app/pos/test_contract.py").read_text()
    assert '@pytest.fixture(params=["fake", *ADAPTERS])' in contract


def test_every_rejection_code_the_rules_give_has_a_test_naming_it():
    rules = (ROOT / "app/orders/rules.py").read_text()
    tests = (ROOT / "tests/unit/app/orders/test_rules.py").read_text()
    codes = set(re.findall(r'verdict\.add\(\s*"([a-z_]+)"', rules))
    assert codes, "no verdict.add(code, ...) found: the recipe's wording is out of date"
    assert sorted(code for code in codes if f'"{code}"' not in tests) == []
