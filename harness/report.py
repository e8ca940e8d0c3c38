"""A run's report: invariant checks, the text table a run prints, the JSON it writes, and the
markdown tables the docs are made of."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLES = 5  # violations printed per check


@dataclass
class Check:
    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.violations.append(message)


def fault_errors(errors: list[str]) -> Check:
    check = Check("every fault injected and recovered", checked=len(errors))
    check.violations.extend(errors)
    return check


def check_table(checks: Sequence[Check]) -> list[str]:
    """Each check's name, count and violations, then the total."""
    width = max((len(c.name) for c in checks), default=len("total violations"))
    lines = [f"{'invariant':<{width}}  {'checked':>8}  {'violations':>10}", "-" * (width + 22)]
    lines += [f"{c.name:<{width}}  {c.checked:>8}  {len(c.violations):>10}" for c in checks]
    lines.append("-" * (width + 22))
    total = sum(len(c.violations) for c in checks)
    lines.append(f"{'total violations':<{width}}  {'':>8}  {total:>10}")
    return lines


def violation_lines(checks: Sequence[Check], examples: int = EXAMPLES) -> list[str]:
    lines = []
    for check in checks:
        lines += [f"VIOLATION {check.name}: {v}" for v in check.violations[:examples]]
        if len(check.violations) > examples:
            lines.append(f"VIOLATION {check.name}: ... and {len(check.violations) - examples} more")
    return lines


def as_json(checks: Sequence[Check], info: Mapping[str, Any]) -> dict[str, Any]:
    """The checks and the summary as plain JSON values (anything else as its str)."""
    rows = [{"name": c.name, "checked": c.checked, "violations": c.violations} for c in checks]
    doc = {"checks": rows, "summary": info}
    loaded: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    return loaded


def write_json(path: str, doc: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)


def cell(value: object) -> str:
    """A table cell: thousands separated, a dict as `key value` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in value.items())
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], escape: bool = True) -> list[str]:
    """A pipe table; with `escape`, a `|` inside a cell becomes `/`."""
    lines = ["|" + "".join(f" {h} |" if h else " |" for h in header), "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "/") if escape else c for c in row) + " |" for row in rows]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, a dashed line under the header."""
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
