"""The run's table: invariants with counts and violations, then what ran and what was injected."""

from __future__ import annotations

import json
from collections import Counter

from reliability.invariants import Check

EXAMPLES = 5


def fault_errors(errors: list[str]) -> Check:
    check = Check("every fault injected and recovered", checked=len(errors))
    check.violations.extend(errors)
    return check


def summary(journal, records: dict, evidence, injector, stats: dict, seconds: float) -> dict:
    statuses = Counter(o.status for o in records.values() if o is not None)
    paths = Counter(o.path for o in records.values() if o is not None and o.status == "placed")
    answers = Counter(str(c.status or "none") for c in journal.calls)
    kinds = Counter(p.kind for p in journal.planned.values())
    callbacks = Counter(d.answered for d in evidence.receiver.deliveries)
    return {
        "scenarios": len(journal.planned),
        "requests": len(journal.calls),
        "orders_recorded": sum(1 for o in records.values() if o is not None),
        "final_status": dict(statuses),
        "placed_by_path": dict(paths),
        "pos_orders": len(evidence.ledger),
        "answers": dict(sorted(answers.items())),
        "scenario_kinds": dict(sorted(kinds.items())),
        "faults": dict(sorted(injector.count().items())),
        "callback_deliveries": {str(k): v for k, v in sorted(callbacks.items())},
        "callbacks_kept_for_replay": len(evidence.dead_callbacks),
        # kill_web_at_pos: the answers PAR's resubmits got after the web was killed mid-POST
        "web_kill_resubmits": dict(
            Counter(
                str(c.status or "none")
                for c in journal.calls
                if c.kind == "resubmit" and c.uid.startswith("rel-web_kill-")
            )
        ),
        "listed_for_on_call": len(getattr(evidence, "found", ())),
        "seconds": round(seconds, 1),
        "fault_log": _fault_log(injector.windows),
        "pos_calls_max": max((c.get("posts", 0) + c.get("lookups", 0) for c in evidence.pos_calls.values()), default=0),
        **stats,
    }


def _fault_log(windows) -> list[str]:
    """Every fault in the order it began: its kind, when (from the first), how long, what."""
    first = min((w.start for w in windows), default=0.0)
    return [
        f"{w.kind} at +{w.start - first:.1f}s for {w.end - w.start:.1f}s: {w.detail}"
        for w in sorted(windows, key=lambda w: w.start)
    ]


def table(checks: list[Check], info: dict, args, minutes: float) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'invariant':<{width}}  {'checked':>8}  {'violations':>10}", "-" * (width + 22)]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {check.checked:>8}  {len(check.violations):>10}")
    lines.append("-" * (width + 22))
    total = sum(len(c.violations) for c in checks)
    lines.append(f"{'total violations':<{width}}  {'':>8}  {total:>10}")
    lines.append("")
    mode = "--short" if args.short else "full"
    lines.append(f"run: {mode}, {minutes} min of load at {args.rate}/s, seed {args.seed}, {info['seconds']} s")
    for key in (
        "scenarios",
        "requests",
        "orders_recorded",
        "final_status",
        "placed_by_path",
        "pos_orders",
        "answers",
        "scenario_kinds",
        "faults",
        "callback_deliveries",
        "callbacks_kept_for_replay",
        "created_after_deadline",
        "late_placements",
        "listed_for_on_call",
        "web_kill_resubmits",
        "max_received_lateness_ms",
        "orders_sent_without_not_after",
        "pos_calls_max",
        "cancels",
        "archive",
    ):
        if key in info:
            lines.append(f"  {key}: {info[key]}")
    for check in checks:
        for violation in check.violations[:EXAMPLES]:
            lines.append(f"VIOLATION {check.name}: {violation}")
        if len(check.violations) > EXAMPLES:
            lines.append(f"VIOLATION {check.name}: ... and {len(check.violations) - EXAMPLES} more")
    return "\n".join(lines)


def as_json(checks: list[Check], info: dict) -> dict:
    return json.loads(
        json.dumps(
            {
                "checks": [{"name": c.name, "checked": c.checked, "violations": c.violations} for c in checks],
                "summary": info,
            },
            default=str,
        )
    )


def write_json(path: str, checks: list[Check], info: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(as_json(checks, info), fh, indent=2)
