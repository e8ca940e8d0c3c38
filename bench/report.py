"""The table every run prints, and docs/BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata

from bin.stack import redis_server_binary
from harness import report

PACKAGES = ("gunicorn", "gevent", "flask", "celery", "kombu", "redis", "requests", "aiohttp")


@dataclass
class Row:
    case: str
    measure: str
    ours: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        verdict = "" if self.met is None else ("yes" if self.met else "NO")
        return [self.case, self.measure, self.ours, self.baseline, self.ratio, self.goal, verdict]


HEADER = ["case", "measure", "ours", "baseline", "ratio", "goal", "met"]


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def text_table(rows: list[Row]) -> str:
    return "\n".join(report.text_table(HEADER, [row.cells() for row in rows]))


def markdown_table(rows: list[Row]) -> str:
    return "\n".join(report.markdown_table(HEADER, [row.cells() for row in rows]))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        out = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout
        found["redis-server"] = out.split("v=")[1].split()[0] if "v=" in out else out.strip()
    except (OSError, IndexError, RuntimeError):
        found["redis-server"] = "unknown"
    return found


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.machine()}), {platform.system()} {platform.release()}"
