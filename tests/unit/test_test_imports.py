"""No test imports another test module or a conftest (issue 22): what tests share lives in
tests/support/ (factories.py for orders and tokens), so a test module can be moved, renamed or
deleted without breaking another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def test_no_test_module_imports_another():
    offending = []
    for path in sorted(TESTS.rglob("*.py")):
        for line, name in _imported(ast.parse(path.read_text(), filename=str(path))):
            parts = name.split(".")
            if parts[0] == "tests" and (
                parts[-1].startswith("test_")
                or (parts[-1] == "conftest" and len(parts) > 2)
                or parts[:2] in (["tests", "unit"], ["tests", "integration"])
            ):
                offending.append(f"{path.relative_to(TESTS.parent)}:{line} imports {name}")
    assert not offending, "tests importing test modules (move what they share to tests/support/):\n" + "\n".join(
        sorted(set(offending))
    )
