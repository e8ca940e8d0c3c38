"""The cluster's own invariants, beside the reliability harness's (reliability.invariants):

- every order answered final before a failover is still final, with the same status, after it
  (read back from the new primary right after the promotion, and again at the end);
- every order answered 200 or 202 before a failover still has its record right after it (the
  `replica_cut_promoted` fault promotes a replica cut off from everything written meanwhile:
  what the engine answered then must be what the replica held, issue 18, finding 3);
- every fault kind injected at least the run's number of rounds.

And one excuse added to the reliability harness's "no callback delivered twice automatically":
a delivery whose record ("delivered") was written while the replica was cut off, or in the last
LAG seconds before a kill, may be lost with the primary; the promoted node still owes that
callback and sends it once more, with the same Idempotency-Key (the spec's one resend per lost
record, as for a sender killed between the receiver's answer and its record). So is a delivery
answered after the kill and before the killed node was started again: its POST was decided before
the kill (no probe passes without a replica), and its record could not be written on the dead node.
So is a sender cut off (worker_cut) or on the slow link (worker_latency) as the answer came: its
claim lapses before it can record the delivery, and the next mover sends it once more.
"""

from __future__ import annotations

import itertools

from cluster.faults import FailoverEvidence
from harness.report import Check

# a delivery's record reaches the primary within the worker's socket timeout (5 s, through the
# worker_latency fault's slow link) and the replica a moment later: written this close before a
# kill, it may not be on the promoted node
LAG = 6.0
# a sender in trouble while the receiver's answer was on its way: (seconds before the window's
# start, after its end) in which that answer may never have been recorded
SENDER_TROUBLE = {"worker_cut": (1.0, 0.0), "worker_latency": (0.0, LAG)}


def check_failover_finals(failovers: list[FailoverEvidence], records: dict) -> Check:
    check = Check("answered final before a failover: still final, same status, after it")
    reported: set[str] = set()  # an order lost once is named once, at the failover that lost it
    for number, failover in enumerate(failovers, 1):
        for uid, status in failover.answered.items():
            check.checked += 1
            if uid in reported:
                continue
            after = failover.after.get(uid)
            order = records.get(uid)
            if after != status or order is None or order.status != status:
                reported.add(uid)
            if after != status:
                check.fail(
                    f"failover {number} ({failover.old[0]} killed): {uid} answered {status}, read back as {after}"
                )
            elif order is None or order.status != status:
                check.fail(
                    f"failover {number}: {uid} answered {status}, at the end {order.status if order else 'missing'}"
                )
    return check


def check_accepted_kept(failovers: list[FailoverEvidence]) -> Check:
    check = Check("answered 200/202 before a failover: recorded on the promoted node right after it")
    lost: set[str] = set()
    for number, failover in enumerate(failovers, 1):
        for uid in sorted(failover.accepted - lost):
            check.checked += 1
            if uid not in failover.kept:
                lost.add(uid)
                check.fail(
                    f"{failover.kind} {number} ({failover.old[0]} killed): {uid} was answered 200/202, "
                    f"no record on the promoted node"
                )
    return check


def check_fault_counts(counts: dict[str, int], kinds: tuple[str, ...], wanted: int) -> Check:
    check = Check(f"every fault kind injected at least {wanted} times")
    for kind in kinds:
        check.checked += 1
        if counts.get(kind, 0) < wanted:
            check.fail(f"{kind}: {counts.get(kind, 0)} times")
    return check


def lost_with(prev_end: float, resent_at: float, failovers: list[FailoverEvidence], windows=()) -> bool:
    """A delivery's record, written after its answer at `prev_end`, may be missing when it was sent
    again at `resent_at`: lost with a primary killed between them (the record made while the
    replica was cut off, or within LAG of the kill, or due after the kill: the answer came before
    the killed node was started again, so from a POST in flight at the kill), or never written by
    its sender (its host cut off, or on the slow link, while the receiver's answer was on its way:
    its claim lapsed first)."""
    if any(
        min(f.cut_at or f.killed_at, f.killed_at - LAG) <= prev_end <= max(f.killed_at, f.restarted_at)
        and f.killed_at < resent_at
        for f in failovers
    ):
        return True
    return any(
        w.kind in SENDER_TROUBLE
        and w.start - SENDER_TROUBLE[w.kind][0] <= prev_end <= w.end + SENDER_TROUBLE[w.kind][1]
        and prev_end < resent_at
        for w in windows
    )


def excuse_lost_delivery_marks(check: Check, receiver, failovers: list[FailoverEvidence], windows=()) -> int:
    """Drop from the reliability check `check` ("no callback delivered twice automatically") the
    callbacks sent again only because the record of a delivery was lost: each send after the
    first answered 2xx follows a 2xx whose record may be missing (lost_with), with the same key.
    Returns how many were excused."""
    kept: list[str] = []
    for violation in check.violations:
        uid = violation.split(":", 1)[0]
        deliveries = sorted(receiver.for_uid(uid), key=lambda d: d.at)
        first = next((n for n, d in enumerate(deliveries) if d.answered < 300), None)
        chain = deliveries[first:] if first is not None else []
        pairs = itertools.pairwise(chain)
        if len(chain) > 1 and all(
            nxt.key == f"{uid}:{nxt.status}" and prev.answered < 300 and lost_with(prev.end, nxt.at, failovers, windows)
            for prev, nxt in pairs
        ):
            continue
        kept.append(violation)
    excused = len(check.violations) - len(kept)
    check.violations = kept
    return excused
