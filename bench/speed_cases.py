"""Ours against earlier mains (bench/previous.py), the same loads interleaved in one run: the web
process's CPU per request and the rate, before and after; and issue 14's goals on the web's CPU
(at most 0.7 ms per validate, 2.0 ms per submit with a fast POS, by /proc over each load)."""

from __future__ import annotations

from bench.report import Row, num
from bench.runner import Load, Runner
from bench.web_cases import _median_of

GOALS_MS = {"validate": 0.7, "submit": 2.0}
CASES = (("validate", 0, 50), ("submit", 50, 50), ("submit", 200, 200))


def _web_ms(load: Load, label: str) -> float:
    return _median_of(load, lambda run: run["cpu_ms"].get(label, 0.0))


def versus_earlier(runner: Runner, labels: list[str], skipped: list[str]) -> list[Row]:
    rows = [Row("vs earlier mains", "not measured", why) for why in skipped]
    if not labels:
        return rows or [Row("vs earlier mains", "not measured", "--baseline none")]
    for kind, latency, clients in CASES:
        runner.stack.knobs("loc-001", latency_ms=latency)
        ours, *before = runner.repeat([("web", kind, clients), *((label, kind, clients) for label in labels)])
        case = f"vs earlier mains, {kind}" + (f", POS {latency} ms" if kind == "submit" else "") + f" x {clients}"
        mine, goal = _web_ms(ours, "web"), GOALS_MS[kind] if latency <= 50 else None
        for label, load in zip(labels, before, strict=True):
            theirs = _web_ms(load, label)
            rows.append(
                Row(
                    case,
                    f"web CPU ms/request vs {label}",
                    num(mine, 2),
                    f"{num(theirs, 2)} {label}",
                    f"{mine / theirs:.2f}" if theirs else "",
                )
            )
            rate, base = ours.median("rps"), load.median("rps")
            rows.append(
                Row(
                    case,
                    f"requests/s vs {label}",
                    num(rate),
                    f"{num(base)} {label}",
                    f"{rate / base:.2f}" if base else "",
                )
            )
            rows.append(
                Row(
                    case,
                    f"share of 200s vs {label}",
                    f"{100 * ours.share('200'):.1f}%",
                    f"{100 * load.share('200'):.1f}% {label}",
                )
            )
        if goal:
            rows.append(
                Row(case, "web CPU ms/request, issue 14's goal", num(mine, 2), "", "", f"<= {goal}", mine <= goal)
            )
    runner.stack.knobs("loc-001", latency_ms=0)
    return rows
