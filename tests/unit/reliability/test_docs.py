"""docs/RELIABILITY.md is rendered from a run's report: every check with its counts, the faults
by kind, the violations when there are any."""

from __future__ import annotations

from reliability import docs

REPORT = {
    "checks": [
        {"name": "exactly one POS order per placed order", "checked": 2288, "violations": []},
        {
            "name": "schemathesis: no 5xx (answers {200: 1, 500: 1})",
            "checked": 5007,
            "violations": ["POST /posnext/order/validate: HTTP 500"],
        },
    ],
    "summary": {
        "scenarios": 3360,
        "requests": 7843,
        "faults": {"kill_worker": 19, "pos_down": 11},
        "seconds": 720.0,
        "final_status": {"placed": 2288},
        "orders_recorded": 3039,
    },
}


def test_the_report_renders_every_check_fault_and_violation():
    text = docs.render(REPORT, "python -m reliability --seed 2", 0.0)
    assert "Written by `python -m reliability --seed 2` on 1970-01-01 00:00 UTC" in text
    assert "3,360 scenarios, 7,843 requests, 30 faults injected, **1 invariant violations**" in text
    assert "| exactly one POS order per placed order | 2,288 | 0 |" in text
    assert "| schemathesis: no 5xx (answers {200: 1, 500: 1}) | 5,007 | 1 |" in text
    assert "| kill_worker | 19 |" in text and "| pos_down | 11 |" in text
    assert "- schemathesis: no 5xx (answers {200: 1, 500: 1}): POST /posnext/order/validate: HTTP 500" in text
    assert "| final status | placed 2,288 |" in text


def test_a_clean_run_lists_no_violations(tmp_path):
    clean = {**REPORT, "checks": REPORT["checks"][:1]}
    out = tmp_path / "RELIABILITY.md"
    docs.write(str(out), clean, "python -m reliability")
    text = out.read_text()
    assert "**0 invariant violations**" in text and "## Violations" not in text
    assert "## What the harness found, and the fixes" in text


def test_every_fault_kind_the_injector_has_is_described():
    from reliability.faults import POS_KINDS, PROCESS_KINDS

    missing = [kind for kind in (*PROCESS_KINDS, *POS_KINDS) if f"`{kind}`" not in docs.WHAT_RUNS]
    assert missing == []
