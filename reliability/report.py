"""The run's table: invariants with counts and violations, then what ran and what was injected."""

from __future__ import annotations

from collections import Counter

from harness.report import Check, check_table, violation_lines


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
    lines = [*check_table(checks), ""]
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
    return "\n".join(lines + violation_lines(checks))
