"""An order's lifecycle as data: its statuses, the moves between them, the final set.

    pending ──► placed | errored | rejected | cancelled      (final: never changes again)

`pending` covers everything before a final state; what the engine does next for a pending
order is planned in the schedule (the `schedule` sorted set, app/orders/store.py), not in more
statuses. The Lua
scripts (app/orders/scripts.py) and the schemas take these sets from here; docs/ENGINE.md
draws the chart.

Every write to an order is one Lua script guarded on its status (and on the mover's claim
token where a move is in flight): nothing creates, resurrects or changes a record it does not
expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    PLACED = "placed"
    ERRORED = "errored"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


FINAL: frozenset[Status] = frozenset({Status.PLACED, Status.ERRORED, Status.REJECTED, Status.CANCELLED})
OPEN: frozenset[Status] = frozenset(set(Status) - FINAL)

# status -> the statuses it may move to. A final status moves nowhere.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: FINAL,
    **{status: frozenset() for status in FINAL},
}

# What validate answers (never stored as an order's status) beside the statuses above.
VALIDATED = "validated"
ANSWER_STATUSES: tuple[str, ...] = (VALIDATED, *(status.value for status in Status))


class Callback(StrEnum):
    """A callback's state, in the order's record (`cb`): owed from the final write of an order with
    a callback_url, then delivered or dead."""

    NONE = ""
    OWED = "owed"
    DELIVERED = "delivered"
    DEAD = "dead"
    UNRECORDED = "unrecorded"  # delivered or not, its closing write was refused (claim lost, settled)


class Move(StrEnum):
    """A kind of move the schedule plans for an order: its schedule member is `{value}:{uid}`,
    its claim the record's `{value}_claim` / `{value}_until` fields, its task app/tasks.py's."""

    ORDER = "o"  # place the order, or decide it after its deadline, or decide a recorded cancel
    CALLBACK = "c"  # deliver its owed callback
    RECONCILE = "r"  # look it up at the POS after it was made final without knowing

    def member(self, uid: str) -> str:
        return f"{self.value}:{uid}"


class MoveResult(StrEnum):
    """What one move ended in: a worker task's result and the worker_steps metric's label. The
    Lua scripts answer with these values (their table `R`)."""

    # a final written by the move (the status)
    PLACED = "placed"
    ERRORED = "errored"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    RETRY = "retry"  # its next move planned in the schedule
    # no move: the claim was refused, or lost before the closing write
    MISSING = "missing"  # no such order (or it moved to the archive)
    SETTLED = "settled"  # nothing left to do for this kind of move
    BUSY = "busy"  # another mover holds it
    NOT_DUE = "not_due"  # planned for later
    CLAIM_LOST = "claim_lost"  # the claim lapsed and was taken: nothing written
    CLAIM_LAPSING = "claim_lapsing"  # too little of the claim left for the call's whole bound
    UNREADABLE = "unreadable"  # the record cannot be read (counted as corrupt)
    CANCEL_REQUESTED = "cancel_requested"  # recorded meanwhile: decided with the same claim
    NOT_REQUESTED = "not_requested"  # a cancel decision asked for, and no cancel recorded
    NOT_DURABLE = "not_durable"  # the write before a POS call or a callback could not be confirmed
    # a reconciliation's or a callback's own outcomes
    FOUND = "found"
    VOIDED = "voided"
    ABSENT = "absent"
    DELIVERED = "delivered"
    DEAD = "dead"
    UNRECORDED = "unrecorded"  # delivered or not, its closing write was refused (claim lost, settled)


class Write(StrEnum):
    """The guarded writes of an open order's move (scripts.SETTLE; its table `W`)."""

    FINAL = "final"  # make it final
    CANCEL = "cancel"  # cancel it: final at once, or recorded for its move to decide
    RETRY = "retry"  # plan its next move
    VALIDATED = "validated"  # validated, with the POS request every POST sends
    HANDOFF = "handoff"  # the web hands its next move to a worker


class Reconcile(StrEnum):
    """An order errored with `pos_outcome_unknown` is still looked up at the POS (`rc`)."""

    NONE = ""
    OPEN = "open"  # still being looked up
    FOUND = "found"  # the POS had it after all: listed for on-call
    VOIDED = "voided"  # the POS had it, made after the deadline: voided, and listed
    ABSENT = "absent"  # the POS answered: no such order; nothing to do


def is_final(status: str) -> bool:
    return status in FINAL


def may_move(current: str, to: str) -> bool:
    try:
        return Status(to) in TRANSITIONS[Status(current)]
    except ValueError:
        return False


def lua_set(values: Iterable[object]) -> str:
    """A Lua table literal used as a set: {['placed']=true, ...}."""
    return "{" + ", ".join(f"['{value}']=true" for value in sorted(str(v) for v in values)) + "}"


def lua_enum(enum: type[StrEnum]) -> str:
    """A StrEnum as a Lua table of its names: {OWED='owed', ...} (the scripts use the names)."""
    return "{" + ", ".join(f"{member.name}='{member.value}'" for member in enum) + "}"


def lua_transitions() -> str:
    """TRANSITIONS as a Lua table of sets."""
    rows = ", ".join(f"['{source}']={lua_set(targets)}" for source, targets in sorted(TRANSITIONS.items()))
    return "{" + rows + "}"
