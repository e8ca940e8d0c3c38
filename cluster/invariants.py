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
callback and sends it once more, with the same Idempotency-Key (the spec's one resend, as for a
sender killed between the receiver's answer and its record).
"""

from __future__ import annotations

from cluster.faults import FailoverEvidence
from reliability.invariants import Check

LAG = 1.0  # asynchronous replication: a write this close before a kill may not be on the replica


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
                check.fail(f"failover {number} ({failover.old[0]} killed): {uid} answered {status}, "
                           f"read back as {after}")
            elif order is None or order.status != status:
                check.fail(f"failover {number}: {uid} answered {status}, at the end "
                           f"{order.status if order else 'missing'}")
    return check


def check_accepted_kept(failovers: list[FailoverEvidence]) -> Check:
    check = Check("answered 200/202 before a failover: recorded on the promoted node right after it")
    lost: set[str] = set()
    for number, failover in enumerate(failovers, 1):
        for uid in sorted(failover.accepted - lost):
            check.checked += 1
            if uid not in failover.kept:
                lost.add(uid)
                check.fail(f"{failover.kind} {number} ({failover.old[0]} killed): {uid} was answered 200/202, "
                           f"no record on the promoted node")
    return check


def check_fault_counts(counts: dict[str, int], kinds: tuple[str, ...], wanted: int) -> Check:
    check = Check(f"every fault kind injected at least {wanted} times")
    for kind in kinds:
        check.checked += 1
        if counts.get(kind, 0) < wanted:
            check.fail(f"{kind}: {counts.get(kind, 0)} times")
    return check


def lost_with_the_primary(at: float, failovers: list[FailoverEvidence]) -> bool:
    """A write made at `at` may be missing on the promoted node: made while the replica was cut
    off (from the cut to the kill), or within LAG seconds before a kill."""
    return any((f.cut_at or f.killed_at - LAG) <= at <= f.killed_at for f in failovers)


def excuse_lost_delivery_marks(check: Check, receiver, failovers: list[FailoverEvidence]) -> int:
    """Drop from the reliability check `check` ("no callback delivered twice automatically") the
    callbacks sent once more because the record of their delivery was lost with the primary: the
    delivery answered 2xx within lost_with_the_primary, one resend after it, with the same key.
    Returns how many were excused."""
    kept: list[str] = []
    for violation in check.violations:
        uid = violation.split(":", 1)[0]
        deliveries = sorted(receiver.for_uid(uid), key=lambda d: d.at)
        first = next((n for n, d in enumerate(deliveries) if d.answered < 300), None)
        after = deliveries[first + 1:] if first is not None else []
        if first is not None and len(after) == 1 and after[0].key == f"{uid}:{after[0].status}" \
                and lost_with_the_primary(deliveries[first].end, failovers):
            continue
        kept.append(violation)
    excused = len(check.violations) - len(kept)
    check.violations = kept
    return excused
