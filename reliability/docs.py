"""docs/RELIABILITY.md from a run's report: the command, what ran, the faults by kind, every
invariant with its count and violations, and the faults the harness found and we fixed.

`python -m reliability` writes it after a full run; `python -m reliability.docs REPORT.json
[OUT]` writes it again from a saved report (`--report`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.report import cell, markdown_table, write_text
from reliability import archive_checks

ROOT = Path(__file__).resolve().parent.parent

WHAT_RUNS = """\
## What the run does

1. Starts the stack in its production shape from the `Procfile` (bin/stack.py): gunicorn
   (2 gevent workers), two Celery worker processes, two beats, the POS simulator, and a
   `redis-server` with AOF on (as the embedded Redis configures it), with settings that let
   deadlines pass within the run (`INLINE_BUDGET_MS` 800, `ORDER_MAX_ASYNC_SECONDS` 15,
   `RECONCILE_SECONDS` 8, `RETRY_CAP_SECONDS` 4, a 1 s sweep, `CALLBACK_TIMEOUT_SECONDS` 3:
   `reliability/cluster.py`, `bin/stack.py short_env`).
2. Drives scenarios at a steady rate, each one as PAR would send it (signed, with a JWT), and
   resends a submit that got no answer or a 503 with the same payload: `plain` orders,
   `resubmit` (the same payload again), `changed` (the same `request_uid`, another payload:
   409), `concurrent` (the same submit from several threads at once), `race_changed`
   (concurrent submits, some with another payload), `refused` (items the POS refuses),
   `rules` (orders the menu rules refuse), `validate`, `callback` (orders with a
   `callback_url` on the harness's receiver, which fails or trickles some deliveries),
   `web_kill` (the order `kill_web_at_pos` submits and resubmits), and `cancel`
   (`reliability/cancels.py`: a submit, one in three with a `callback_url`, cancelled with
   PAR's JWT a random 0-3 s after it was sent, half of them within 0.3 s, whether or not the
   submit was answered: while the POS track has the POS slow, the web's or a worker's POST is
   at the POS when the cancel comes; a cancel with no answer or a 503 is resent, one answered
   404 before the submit was recorded is sent again once it is, one in four is repeated).
   `--adapter square` runs the whole stack with `POS_ADAPTER=square` (possim's Square mode: no
   `not_after`, voids by POS order id, so a cancel there is watched and anything made later
   voided; every location counts as one whose POS ignores `not_after`).
3. Injects faults on two tracks at once. Process track: SIGKILL of a Celery worker mid-order
   (`kill_worker`, restarted), SIGKILL of the whole web process (`kill_web`, restarted),
   redis-server stopped and restarted on its AOF (`restart_redis`), the web process frozen
   (SIGSTOP) past any claim it holds and then let go (`freeze_web`), redis-server SIGKILLed
   right after a final answer and restarted on its AOF (`kill_redis_after_final`), one of the
   two beats SIGKILLed (`kill_beat`), a third worker whose clock runs 30 s ahead or behind
   (`skewed_worker`: libfaketime's `faketime`, installed by `bin/ensure-faketime` when
   missing), and PAR's submit with a `callback_url` whose POST the POS holds 6 s while the web
   is SIGKILLed, then the web restarted and the same body resubmitted until answered
   (`kill_web_at_pos`: the resubmit's 202 owes the callback). POS track (the simulator's
   knobs): down (`pos_down`: 503), error rates (`pos_errors`), ambiguous errors (the order
   created, then 500: `pos_ambiguous`), hanging connections (`pos_hang`), slowdowns above and
   below the inline budget and beyond connect + read timeout (`slow_above_budget`,
   `slow_below_budget`, `slow_beyond_read`), refusals (`pos_refuses`), and latency past the
   deadlines (4.5-7 s, under `RECONCILE_SECONDS`) at a location whose POS ignores `not_after`,
   every second time with voids refused (`pos_late`: `void_window_ms` 0).
   Standing conditions: `loc-002`'s POS ignores `not_after` for the whole run
   (`honour_not_after: false`), so any slowdown there can create an order after its deadline;
   one callback in ten goes to a receiver that answers its first delivery a byte at a time
   for three times `CALLBACK_TIMEOUT_SECONDS` (3 s in this stack), then at once; others
   answer 204, fail once, or always fail (kept for replay).
4. Clears the faults, waits until no order is open, still looked up for a late placement
   (`rc` open) or owing its callback, and every deadline has passed, then checks the
   invariants against the order store (Redis), the simulator's ledger (`created_at`,
   `not_after`, `status` accepted or voided, calls per order), `orders:reconcile:found`, the
   callback receiver and its own journal of every request and answer. Among them:
   - `placed` means exactly one live (not voided) POS order, the one the record names (a
     cancel the POS refused, `not_voidable`, included); any other final has no live POS
     order, but one found by reconciliation after `pos_outcome_unknown`, or one made late
     whose void the POS refused (listed for on-call);
   - `cancelled` means no live POS order (one exception, on a POS that cannot close a key,
     `--adapter square`: the order a POST in flight made after the cancel, whose void the POS
     refused too, listed for on-call and counted apart); no POST reached the POS after the
     cancel was recorded (the simulator's last POST for the order, by its received time, not
     later than the record's `cancel_requested_at`, or the final transition of one cancelled
     at once, + 250 ms transit); a cancel answered 409 is for an order final in another
     status (`not_cancellable`), and one answered 200 or 202 shows the record's outcome
     (202: `pending` with `cancel_requested_at`);
   - no POS order created after its deadline where the POS honours `not_after`; where it
     does not, no POS order created after its deadline stays live unnoticed: each is voided
     or its order listed for on-call (a POS order stamped within `CLOCK_SKEW_SECONDS` of the
     deadline is taken as on time, the engine's stated allowance for the POS's clock, and
     counted apart: `within_skew`);
   - every callback owed is delivered or kept for replay: owed by any answer of HTTP 202 to
     a submit for that `request_uid` (the journal: a hand-off, a duplicate that waited, a
     resubmit of a pending order, store trouble after the order was recorded), and by a final
     a worker wrote; an order answered 200 inline with no 202 ever owes none;
   - no callback delivered twice automatically (one resend allowed after its sender was
     SIGKILLed between the receiver's 2xx and its record, with the same Idempotency-Key); no
     two deliveries of one callback at once, and none longer than `CALLBACK_TIMEOUT_SECONDS`
     (+1 s) as the receiver sees it;
   - no order pending past deadline + `RECONCILE_SECONDS` (+ the slack of
     `reliability/bounds.py` and the longest Redis outage injected); POS calls per order
     within about log2(T / RETRY_BASE_SECONDS) + 2 T / RETRY_CAP_SECONDS (+ 3 + 3 sqrt(2 T / cap)).
5. Runs schemathesis against the served `/openapi.json` (positive and negative generation over
   every operation): no 5xx, every request answered, no record made by a refused request.
"""
WHAT_RUNS += archive_checks.DOC  # the archive's part (issue 21)

FOUND = """\
## What the harness found, and the fixes

Each was fixed in the product, with a regression test; none by changing the harness.

1. **The POS was down when an order's deadline passed**: the order was errored although an
   earlier POST had created it (a POS order for an errored order). Now, after an unknown
   outcome, an order is errored only once a lookup shows the POS lacks it; a lookup failure
   keeps it pending. Test: `tests/unit/app/orders/test_deadline_reconcile.py`.
2. **A POST timed out at the deadline**, the lookup right after found nothing, the order was
   errored, then the POS finished the call. The deciding lookup is now made after deadline +
   connect + read timeout, when no POST sent in time can still land. Same test file.
3. **Past the deadline the backoff was 0** and the sweep re-drove such orders every second. The
   backoff now grows with the time overdue, and the sweep leaves an order with a planned move
   to its worker. Same test file.
4. **A callback whose task was lost** (a worker killed holding it, Redis restarted under a retry
   countdown) was neither delivered nor kept for replay. The write that makes an order final
   now lists the callback it owes (`callbacks:pending`), and the sweep re-sends overdue ones.
   Test: `tests/unit/app/test_callback_recovery.py`.
5. **A worker hung after redis-server restarts**: with gossip on, a worker holding countdown
   tasks when Redis went away died inside kombu's channel close and stayed alive and deaf, in
   about one restart in three. Workers run `--without-gossip` (Procfile, docker-compose.yml).
   Test: `test_workers_keep_consuming_after_redis_restarts_under_their_feet` in
   `tests/integration/test_reliability_short.py`.
6. **An `x-pch-digest` with a non-ASCII character** made `hmac.compare_digest` raise: a 500
   (hypothesis). Bytes are compared now: a 401. Test: `tests/unit/app/test_digest_header.py`.
7. **A `request_datetime` at datetime's limits** (`0001-01-01T00:00:00+01:00`) overflowed in the
   shift to UTC: a 500 (schemathesis, 2 of 5,007 requests in a full run). Times outside the
   years 1970-9998 do not parse: 400 `schema_invalid`. Test: `tests/unit/app/test_times_range.py`.
"""


def render(report: dict[str, Any], command: str, written: float) -> str:
    checks, summary = report["checks"], report["summary"]
    total = sum(len(c["violations"]) for c in checks)
    lines = [
        "# Reliability",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(written))}: "
        f"{summary['scenarios']:,} scenarios, {summary['requests']:,} requests, "
        f"{sum(summary['faults'].values())} faults injected, **{total} invariant violations**, "
        f"in {summary['seconds'] / 60:.1f} min. `python -m reliability --short` (under 3 minutes) runs "
        "in CI (tests/integration/test_reliability_short.py) and fails on any violation; the full run of "
        "at least 10,000 orders is `python -m reliability --orders 10000`.",
        "",
        "## Invariants",
        "",
    ]
    lines += markdown_table(
        ("invariant", "checked", "violations"),
        [(c["name"], f"{c['checked']:,}", str(len(c["violations"]))) for c in checks],
    )
    lines += ["", "## What ran", ""]
    rows = [
        ("scenarios by kind", summary.get("scenario_kinds")),
        ("requests", summary.get("requests")),
        ("answers by HTTP status ('none': the web process was down)", summary.get("answers")),
        ("orders recorded", summary.get("orders_recorded")),
        ("final status", summary.get("final_status")),
        ("placed, by path", summary.get("placed_by_path")),
        ("orders in the POS ledger", summary.get("pos_orders")),
        ("callback deliveries by the receiver's answer", summary.get("callback_deliveries")),
        ("callbacks kept for replay (given up after CALLBACK_MAX_ATTEMPTS)", summary.get("callbacks_kept_for_replay")),
        (
            "POS orders created after their order's deadline (a POST sent in time, landing late)",
            summary.get("created_after_deadline"),
        ),
        ("POS orders sent without not_after", summary.get("orders_sent_without_not_after")),
        ("cancels: answers, and the outcomes of those recorded", summary.get("cancels")),
    ]
    lines += markdown_table(("", ""), [(name, cell(value)) for name, value in rows if value is not None], escape=False)
    lines += ["", "## Faults injected, by kind", ""]
    faults = sorted(summary["faults"].items())
    lines += markdown_table(("fault", "times"), [(kind, str(count)) for kind, count in faults], escape=False)
    violations = [(c["name"], v) for c in checks for v in c["violations"][:5]]
    if violations:
        lines += ["", "## Violations", ""] + [f"- {name}: {text}" for name, text in violations]
    return "\n".join(lines) + "\n\n" + WHAT_RUNS + "\n" + FOUND


def write(path: str, report: dict[str, Any], command: str) -> None:
    write_text(path, render(report, command, time.time()))


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    out = argv[1] if len(argv) > 1 else str(ROOT / "docs" / "RELIABILITY.md")
    write(out, report, "python -m reliability")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
