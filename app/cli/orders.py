"""`posbridge orders show|list|summary|redrive|cancel` (also under `flask --app app.wsgi`): find,
understand and re-drive orders.

Every engine call is the store's or the service's (app/orders/); this module is presentation:
what is printed has its control characters escaped, and who asked is recorded as cli/<operator>.
"""

from __future__ import annotations

import time

import click

from app.cli.output import Trouble, echo_json, safe, say, when
from app.cli.services import asked_by, current_services
from app.order_reads import claim_until, stuck_engine_list

orders = click.Group("orders", help="Find, understand and re-drive orders.")


def _row(order) -> str:
    return (
        f"{safe(order.uid):<36} {safe(order.status):<9} {safe(order.doc.get('location_id', '')):<12} "
        f"{when(order.created)}  calls={order.calls} path={safe(order.path)}"
    )


@orders.command("show")
@click.argument("request_uid")
@click.option("--text", "as_text", is_flag=True, help="a timeline for a person instead of JSON")
def show_order(request_uid: str, as_text: bool) -> None:
    """An order's record, its history of transitions and who holds it now."""
    store = current_services().store
    order = store.get(request_uid)
    if order is None:
        raise Trouble(f"no order {request_uid!r}")
    next_move = store.next_move(request_uid)
    history = store.history(request_uid)
    holder, until = store.field(request_uid, "o_claim")[:8], claim_until(store, request_uid)
    if as_text:
        _show_text(store, order, next_move, (holder, until), history)
        return
    echo_json(
        {
            "record": order.doc,
            "status": order.status,
            "deadline": when(order.deadline),
            "pos_calls": order.calls,
            "path": order.path,
            "validated": order.validated,
            "next_move_at": when(next_move) if next_move else None,
            "claim": {"held_by": holder, "until": when(until)} if until else None,
            "callback": {
                "state": order.callback or None,
                "attempts": order.callback_attempts,
                "last_result": store.field(request_uid, "cb_result") or None,
                "replayed_by": order.callback_by or None,
            },
            "reconcile": order.reconcile or None,
            "history": [dict(h, at=when(h.get("at"))) for h in history],
        }
    )


def _show_text(store, order, next_move, claim: tuple[str, float | None], history: list[dict]) -> None:
    """The order for a person: one line of what it is, then what holds it, then its history."""
    uid = order.uid
    say(
        f"{safe(uid)}  {safe(order.status)}  {safe(order.doc.get('location_id', ''))}  "
        f"(path {safe(order.path or '-')}, {order.calls} POS call(s), validated: {'yes' if order.validated else 'no'})"
    )
    say(f"deadline: {when(order.deadline)}   next move: {when(next_move) if next_move else '-'}")
    holder, until = claim
    if until:
        left = until - store.now()
        state = f"lapses in {left:.1f} s" if left > 0 else f"lapsed {-left:.1f} s ago"
        say(f"claim: held by {safe(holder)} until {when(until)} ({state}; taken by: {safe(_last_by(history))})")
    else:
        say("claim: none (nobody is moving it)")
    callback = order.callback or "-"
    if order.doc.get("callback_url") or order.callback:
        say(
            f"callback: {safe(callback)}, {order.callback_attempts} attempt(s), last: "
            f"{safe(store.field(uid, 'cb_result') or '-')}"
            + (f", replayed by {safe(order.callback_by)}" if order.callback_by else "")
        )
    if order.reconcile:
        say(f"reconcile: {safe(order.reconcile)}")
    say("history:")
    for entry in history:
        say(
            f"  {when(entry.get('at'))}  {safe(entry.get('status', '-')):<9} {safe(entry.get('by', '-')):<12} "
            f"{safe(entry.get('note', ''))}"
        )


def _last_by(history: list[dict]) -> str:
    return next((str(h["by"]) for h in reversed(history) if h.get("by")), "-")


@orders.command("list")
@click.option("--stuck", is_flag=True, help="only open orders nobody is working on whose next move is overdue")
@click.option("--open", "open_only", is_flag=True, help="only orders not yet final, oldest first")
@click.option("--reconcile", is_flag=True, help="orders errored as pos_outcome_unknown: still looked up, or found")
@click.option("--location", default=None, help="only this location")
@click.option("--minutes", default=60, show_default=True, help="how far back for recent orders")
@click.option("--limit", default=50, show_default=True)
def list_orders(stuck: bool, open_only: bool, reconcile: bool, location: str | None, minutes: int, limit: int) -> None:
    """Recent orders (newest first), or the open, stuck or to-reconcile ones."""
    services = current_services()
    store = services.store
    if reconcile:
        rows = store.indexes.reconcile_list(limit)
        for uid, state, since in rows:
            pos_order_id = store.field(uid, "rc_pos_order_id")
            say(
                f"{safe(uid):<36} {safe(state):<6} since {when(since)}"
                + (f"  PLACED AT THE POS as {safe(pos_order_id)}" if state == "found" else "  still looked up")
            )
        say(f"{len(rows)} order(s) to reconcile")
        return
    if stuck:
        uids = stuck_engine_list(services)
    elif open_only:
        uids = [uid for uid, _ in store.indexes.open_orders(1000 if location else limit)]
    else:
        uids = store.indexes.recent(
            since=time.time() - minutes * 60, limit=limit, location_id=location, newest_first=True
        )
    shown = 0
    for uid in uids:
        order = store.get(uid)
        if order is not None and (location is None or order.doc.get("location_id") == location) and shown < limit:
            say(_row(order))
            shown += 1
    say(f"{shown} order(s)")


@orders.command("summary")
def summary() -> None:
    """What on-call looks at first: open orders, the oldest one's age, queues, undelivered callbacks."""
    from app.tasks import queue_depths

    services = current_services()
    store, redis = services.store, services.redis
    echo_json(
        {
            "open_orders": store.indexes.open_count(),
            "stuck_orders": len(stuck_engine_list(services)),
            "oldest_open_seconds": round(store.indexes.oldest_open_age(), 1),
            "queue_depth": queue_depths(redis),
            "callbacks_undelivered": store.indexes.dead_callback_count(),
            "final_orders": store.indexes.stats(),
            "menus_cached": services.menus.locations(),
        }
    )


@orders.command("redrive")
@click.argument("request_uids", nargs=-1)
@click.option("--stuck", is_flag=True, help="every stuck order (what `orders list --stuck` shows)")
def redrive(request_uids: tuple[str, ...], stuck: bool) -> None:
    """Hand open orders to a worker now (safe: the POS call is idempotent and leased); exit 1 when
    one named was not re-driven (no such order, already final)."""
    services = current_services()
    if not request_uids and not stuck:
        raise click.UsageError("name one or more request_uids, or --stuck")
    uids = list(request_uids) + (stuck_engine_list(services) if stuck else [])
    failed = False
    for uid in uids:
        order = services.store.get(uid)
        if order is None or order.final:
            say(f"skipped: {safe(uid)} ({'no such order' if order is None else 'already ' + order.status})")
            failed = True  # not re-driven: a placed order is not an error, but not what was asked either
            continue
        moved, why = services.service.redrive(uid, asked_by())
        say(f"re-driven: {safe(uid)}" if moved else f"skipped: {safe(uid)} ({safe(why)}: a move is in flight)")
    if not uids:
        say("no stuck order")
    if failed:
        raise SystemExit(1)


@orders.command("cancel")
@click.argument("request_uid")
@click.option("--reason", default="", help="kept in the order's history (at most 200 characters)")
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=0.0,
    is_flag=False,
    flag_value=30.0,
    help="when the POS is being asked, wait for its answer (seconds; 30 with no value)",
)
def cancel(request_uid: str, reason: str, wait_seconds: float) -> None:
    """Cancel an order as PAR's cancel route does (posnext-api.md, Cancel): a pending order is
    stopped, voided at the POS if a call may have reached it; prints the outcome. Exit 1 when
    the order is unknown or final in another status, or the POS has not answered yet."""
    from app.orders.service import NotCancellable, NotFound

    if len(reason) > 200:
        raise click.UsageError("--reason: at most 200 characters")
    services = current_services()
    try:
        status, body = services.service.cancel(request_uid, asked_by(), reason, time.monotonic())
    except NotFound:
        say(f"no order {safe(request_uid)}", err=True)
        raise SystemExit(1) from None
    except NotCancellable as exc:
        say(f"not cancellable: {safe(request_uid)} is {exc.status} (a final state never changes)", err=True)
        raise SystemExit(1) from None
    until = time.monotonic() + wait_seconds
    while status != 200 and time.monotonic() < until:
        time.sleep(0.2)
        status, body = services.service.answer(request_uid)
    if status == 200:
        say(f"{safe(request_uid)}: {body['status']}")
        return
    say(
        f"{safe(request_uid)}: cancel requested at {body.get('cancel_requested_at')}; the POS is being asked "
        f"(`posbridge orders show {safe(request_uid)}`)"
    )
    raise SystemExit(1)
