"""What follows a POS answer: pure functions, one per kind of answer, that the web's inline
path (service.py) and the worker's move (moves.py) both call. No Redis, no clock, no I/O: each
takes what the POS said and returns a `Decision` the caller carries out.

    refused(problems, note)              the rules' refusal of an order (validate's verdict)
    after_post(outcome)                  a POST's answer
    after_lookup(found, deadline, skew)  a lookup's answer (after the deadline, or on KeyUsed)
    after_void(result)                   a void of a late placement
    after_cancel(result, found, deadline) a cancel's void (and, when not voidable, the lookup)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.jsonio import Json
from app.orders.lifecycle import Status
from app.pos.base import (
    Expired,
    InProgress,
    KeyUsed,
    NotVoidable,
    Outcome,
    Placed,
    Refused,
    Transient,
    Voided,
    VoidedKey,
)


class Next(StrEnum):
    FINISH = "finish"  # make the order final: `status`, `errors`, `pos_order_id`
    RETRY = "retry"  # transient: the web hands it to a worker; a worker plans its next move
    LOOK_UP = "look_up"  # the POS has an order under our own key: ask it which
    VOID = "void"  # a POS order made after the deadline: void it, then after_void


@dataclass(frozen=True)
class Decision:
    next: Next
    status: Status | None = None
    errors: list[Json] = field(default_factory=list)
    pos_order_id: str | None = None
    note: str = ""
    listed: bool = False  # for on-call's list too (a placement the clocks cannot call on time or late)


def deadline_exceeded(why: str) -> Decision:
    message = f"the order could not be placed before its deadline: {why}"
    return Decision(
        Next.FINISH, Status.ERRORED, [{"code": "deadline_exceeded", "message": message}], note="deadline_exceeded"
    )


def refused(problems: list[Json], note: str) -> Decision:
    """The rules refused the order: rejected with their problems, whichever path judged it."""
    return Decision(Next.FINISH, Status.REJECTED, problems, note=note)


def after_post(outcome: Outcome, deadline: float = float("inf"), skew: float = 0.0) -> Decision:
    """`deadline`, `skew`: a POS that does not enforce not_after may say it created the order late."""
    if isinstance(outcome, Placed):
        if outcome.created_at is not None and outcome.created_at > deadline + skew:
            return Decision(Next.VOID, pos_order_id=outcome.pos_order_id, note="created after the deadline")
        return _placed(outcome, deadline, Status.PLACED)
    if isinstance(outcome, Refused):
        return Decision(
            Next.FINISH,
            Status.REJECTED,
            [{"code": outcome.code, "message": outcome.message}],
            note=f"POS refused: {outcome.code}",
        )
    if isinstance(outcome, Expired):
        return deadline_exceeded("the POS refused it past its deadline")
    if isinstance(outcome, VoidedKey):
        return Decision(
            Next.FINISH,
            Status.ERRORED,
            [{"code": "voided", "message": "the POS voided this order's key: it is never created"}],
            note="voided",
        )
    if isinstance(outcome, KeyUsed):
        return Decision(Next.LOOK_UP, note="POS attempt: our key is used: looked up")
    if isinstance(outcome, InProgress):
        return Decision(Next.RETRY, note="POS attempt: in_progress")
    if isinstance(outcome, Transient):
        return Decision(Next.RETRY, note=f"POS attempt: {outcome.reason}")
    raise TypeError(f"not a POS outcome: {outcome!r}")


def after_lookup(found: Placed | None, deadline: float, skew: float, before_deadline: bool = False) -> Decision:
    """`before_deadline`: the lookup answers a KeyUsed, so no order yet is not yet an answer."""
    if found is None or found.voided:
        if before_deadline:
            return Decision(Next.RETRY, note="POS attempt: key used, no order found yet")
        return deadline_exceeded("the POS has no such order after its deadline")
    if found.created_at is not None and found.created_at > deadline + skew:
        return Decision(Next.VOID, pos_order_id=found.pos_order_id, note="a POS order made after the deadline")
    return _placed(found, deadline, "found at the POS")


def _placed(found: Placed, deadline: float, note: str) -> Decision:
    """Placed. Made after the deadline by the POS's clock but within the clocks' stated allowance
    (CLOCK_SKEW_SECONDS: two hosts' clocks are compared): neither voided nor silent, listed."""
    doubtful = found.created_at is not None and found.created_at > deadline
    return Decision(
        Next.FINISH,
        Status.PLACED,
        pos_order_id=found.pos_order_id,
        listed=doubtful,
        note=f"{note}; made {found.created_at - deadline:.3f}s after the deadline by the POS's clock, "
        "within the clocks' allowance: listed for on-call"
        if doubtful and found.created_at
        else note,
    )


def after_void(result: Voided | NotVoidable, pos_order_id: str) -> Decision:
    if isinstance(result, Voided):
        return Decision(
            Next.FINISH,
            Status.ERRORED,
            [{"code": "placed_late", "message": "the POS created the order after its deadline; it was voided"}],
            note="placed_late",
        )
    return Decision(
        Next.FINISH,
        Status.PLACED,
        pos_order_id=pos_order_id,
        listed=True,
        note="placed after its deadline and not voidable: listed for on-call",
    )


def after_cancel(result: Voided | NotVoidable, found: Placed | None, deadline: float) -> Decision:
    """A recorded cancel's void: voided (or nothing there, the key closed) -> cancelled; the POS
    will not void it -> placed, the truth (needs the order the lookup found), and listed for
    on-call when the POS made it after its deadline (no void is left to try)."""
    if isinstance(result, Voided):
        return Decision(
            Next.FINISH,
            Status.CANCELLED,
            [{"code": "cancelled", "message": "cancelled on request; nothing live at the POS"}],
            note="cancelled: nothing live at the POS",
        )
    if found is None or found.voided:
        return Decision(Next.RETRY, note="cancel: not voidable, and no order found yet")
    late = found.created_at is not None and found.created_at > deadline
    return Decision(
        Next.FINISH,
        Status.PLACED,
        pos_order_id=found.pos_order_id,
        listed=late,
        note="cancel refused by the POS (not voidable): placed"
        + ("; made after its deadline: listed for on-call" if late else ""),
    )
