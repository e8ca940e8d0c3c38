"""An order's history as the console's timeline: who, when, why; POS calls, callbacks and
on-call's actions told apart; failures marked; fields a history entry may carry (an outcome, a
latency) shown rather than dropped."""

from __future__ import annotations

import pytest

from app.console.timeline import entry, when


@pytest.mark.parametrize(
    ("raw", "kind", "failed"),
    [
        ({"at": 1, "status": "pending", "by": "web", "note": "received"}, "engine", False),
        ({"at": 1, "status": "pending", "by": "worker", "note": "POS attempt: HTTP 503"}, "pos", True),
        ({"at": 1, "status": "rejected", "by": "worker", "note": "POS refused: item_unavailable"}, "pos", True),
        ({"at": 1, "status": "placed", "by": "worker", "note": "placed"}, "pos", False),
        ({"at": 1, "status": "pending", "by": "worker", "note": "lookup failed: HTTP 503"}, "pos", True),
        ({"at": 1, "status": "placed", "by": "worker", "note": "callback dead: HTTP 500"}, "callback", True),
        ({"at": 1, "status": "placed", "by": "worker", "note": "callback delivered: HTTP 200"}, "callback", False),
        (
            {"at": 1, "status": "errored", "by": "worker", "note": "reconcile: the POS has no such order"},
            "reconcile",
            False,
        ),
        ({"at": 1, "status": "pending", "by": "console:alice", "note": "re-driven"}, "action", False),
        ({"at": 1, "status": "pending", "by": "cli/bob", "note": "re-driven"}, "action", False),
        ({"at": 1, "status": "errored", "by": "worker", "note": "deadline_exceeded"}, "engine", True),
    ],
)
def test_each_entry_is_told_apart(raw, kind, failed):
    made = entry(raw)
    assert (made.kind, made.failed) == (kind, failed)
    assert (made.by, made.note, made.status, made.at) == (raw["by"], raw["note"], raw["status"], when(1))


def test_an_outcome_and_latency_an_entry_carries_are_shown():
    made = entry(
        {
            "at": 1,
            "status": "pending",
            "by": "web",
            "note": "POS call",
            "outcome": "budget_cut",
            "latency_ms": 812,
            "http_status": 503,
        }
    )
    assert made.kind == "pos" and made.failed and made.latency == "812 ms"
    assert made.extra == {"outcome": "budget_cut", "http_status": "503"}
    assert not entry({"at": 1, "status": "placed", "by": "web", "note": "POS call", "outcome": "placed"}).failed


def test_an_unreadable_entry_still_reads():
    made = entry({"note": "unreadable history entry"})
    assert (made.at, made.by, made.status) == ("-", "-", "-")
    assert when("soon") == "soon" and when(0) == "-"
