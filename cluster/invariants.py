"""The cluster's own invariants, beside the reliability harness's (reliability.invariants):

- every order answered final before a failover is still final, with the same status, after it
  (read back from the new primary right after the promotion, and again at the end);
- every fault kind injected at least the run's number of rounds.
"""

from __future__ import annotations

from cluster.faults import FailoverEvidence
from reliability.invariants import Check


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


def check_fault_counts(counts: dict[str, int], kinds: tuple[str, ...], wanted: int) -> Check:
    check = Check(f"every fault kind injected at least {wanted} times")
    for kind in kinds:
        check.checked += 1
        if counts.get(kind, 0) < wanted:
            check.fail(f"{kind}: {counts.get(kind, 0)} times")
    return check
