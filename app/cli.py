"""The on-call CLI (Flask commands): `flask --app app.wsgi orders show UID`, and so on."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app

from app import jsonio
from app.tasks import queue_depths
from app.times import format_time


def _services():
    return current_app.extensions["posbridge"]


def _echo(value) -> None:
    click.echo(jsonio.dumps(value, indent=2))


def _row(order) -> str:
    return (f"{order.uid:<36} {order.status:<9} {order.doc.get('location_id', ''):<12} "
            f"{format_time(order.created)}  calls={order.calls} path={order.path}")


orders = click.Group("orders", help="Find, understand and re-drive orders.")
callbacks = click.Group("callbacks", help="See and replay callbacks.")
menus = click.Group("menus", help="See and refresh cached menus.")


@orders.command("show")
@click.argument("request_uid")
def show_order(request_uid: str) -> None:
    """An order's record, its history of transitions and who holds it now."""
    store = _services().store
    order = store.get(request_uid)
    if order is None:
        raise click.ClickException(f"no order {request_uid!r}")
    next_move = store.next_move(request_uid)
    _echo({"record": order.doc, "status": order.status, "deadline": format_time(order.deadline),
           "pos_calls": order.calls, "path": order.path, "validated": order.validated,
           "next_move_at": format_time(next_move) if next_move else None,
           "callback": {"state": order.callback or None, "attempts": order.callback_attempts,
                        "last_result": store.field(request_uid, "cb_result") or None,
                        "replayed_by": order.callback_by or None},
           "reconcile": order.reconcile or None,
           "history": [dict(h, at=format_time(h["at"])) for h in store.history(request_uid)]})


@orders.command("list")
@click.option("--stuck", is_flag=True, help="only open orders whose next move is overdue (the sweep is not running?)")
@click.option("--reconcile", is_flag=True, help="orders errored as pos_outcome_unknown: still looked up, or found")
@click.option("--open", "open_only", is_flag=True, help="only orders not yet final, oldest first")
@click.option("--location", default=None, help="only this location")
@click.option("--minutes", default=60, show_default=True, help="how far back for recent orders")
@click.option("--limit", default=50, show_default=True)
def list_orders(stuck: bool, reconcile: bool, open_only: bool, location: str | None, minutes: int,
                limit: int) -> None:
    """Recent orders (newest first), or the open, stuck or reconcile ones."""
    services = _services()
    store = services.store
    if reconcile:
        rows = store.reconcile_list(limit)
        for uid, state, since in rows:
            pos_order_id = store.field(uid, "rc_pos_order_id")
            click.echo(f"{uid:<36} {state:<6} since {format_time(since)}"
                       + (f"  PLACED AT THE POS as {pos_order_id}" if state == "found" else "  still looked up"))
        click.echo(f"{len(rows)} order(s) to reconcile")
        return
    if stuck:
        uids = _stuck(services)
    elif open_only:
        uids = [uid for uid, _ in store.open_orders(1000 if location else limit)]
    else:
        uids = store.recent(since=time.time() - minutes * 60, limit=limit, location_id=location, newest_first=True)
    shown = 0
    for uid in uids:
        order = store.get(uid)
        if order is not None and (location is None or order.doc.get("location_id") == location) and shown < limit:
            click.echo(_row(order))
            shown += 1
    click.echo(f"{shown} order(s)")


def _stuck(services) -> list[str]:
    return services.store.overdue_orders(services.settings.dispatch_grace)


@orders.command("summary")
def summary() -> None:
    """What on-call looks at first: open orders, the oldest one's age, queues, undelivered callbacks."""
    services = _services()
    store, redis = services.store, services.redis
    _echo({"open_orders": store.open_count(), "stuck_orders": len(_stuck(services)),
           "oldest_open_seconds": round(store.oldest_open_age(), 1),
           "queue_depth": queue_depths(redis),
           "callbacks_undelivered": store.dead_callback_count(), "final_orders": store.stats(),
           "menus_cached": services.menus.locations()})


@orders.command("redrive")
@click.argument("request_uids", nargs=-1)
@click.option("--stuck", is_flag=True, help="every stuck order (what `orders list --stuck` shows)")
def redrive(request_uids: tuple[str, ...], stuck: bool) -> None:
    """Hand open orders to a worker now (safe: the POS call is idempotent and leased)."""
    services = _services()
    if not request_uids and not stuck:
        raise click.UsageError("name one or more request_uids, or --stuck")
    uids = list(request_uids) + (_stuck(services) if stuck else [])
    failed = False
    for uid in uids:
        order = services.store.get(uid)
        if order is None or order.final:
            click.echo(f"skipped: {uid} ({'no such order' if order is None else 'already ' + order.status})")
            failed = failed or order is None
            continue
        moved, why = services.service.redrive(uid, "cli")
        click.echo(f"re-driven: {uid}" if moved else f"skipped: {uid} ({why}: a move is in flight)")
    if not uids:
        click.echo("no stuck order")
    if failed:
        raise SystemExit(1)


@callbacks.command("list")
def list_callbacks() -> None:
    """Callbacks given up on, kept for replay."""
    store = _services().store
    dead = store.dead_callbacks()
    for uid, at in dead:
        order = store.get(uid)
        last = store.field(uid, "cb_result") if order else "record expired"
        click.echo(f"{uid:<36} given up {format_time(at)}  last: {last}")
    click.echo(f"{len(dead)} undelivered callback(s)")


@callbacks.command("replay")
@click.argument("request_uids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="every undelivered callback (what `callbacks list` shows)")
@click.option("--now", "inline", is_flag=True, help="deliver from this process instead of a worker")
def replay(request_uids: tuple[str, ...], every: bool, inline: bool) -> None:
    """Send orders' callbacks again."""
    services = _services()
    if not request_uids and not every:
        raise click.UsageError("name one or more request_uids, or --all")
    uids = list(request_uids) + ([uid for uid, _ in services.store.dead_callbacks(10000)] if every else [])
    if not uids:
        click.echo("no undelivered callback")
    failed = False
    for uid in uids:
        try:
            ok = _replay_one(services, uid, inline)
        except click.ClickException as exc:
            click.echo(f"skipped: {exc.message}")
            ok = False
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


def _replay_one(services, uid: str, inline: bool) -> bool:
    from app.callbacks import CallbackSender

    order = services.store.get(uid)
    if order is None or not order.doc.get("callback_url"):
        raise click.ClickException(f"{uid!r} has no callback to replay")
    if not order.final:
        raise click.ClickException(f"{uid} is not final yet; its callback goes when it is")
    if inline:
        replayed, why = services.store.replay_callback(uid, "cli")
        outcome = CallbackSender(services.settings, services.store).move(uid) if replayed else why
        click.echo(f"{outcome}: {uid}: {services.store.field(uid, 'cb_result')}")
        return outcome == "delivered"
    replayed, why = services.service.replay_callback(uid, "cli")
    click.echo(f"replay queued: {uid}" if replayed else f"skipped: {uid} ({why})")
    return replayed


@menus.command("refresh")
@click.argument("location_ids", nargs=-1)
def refresh_menus(location_ids: tuple[str, ...]) -> None:
    """Fetch menus from the POS now (all cached locations if none is named)."""
    from app.menus import MenuUnavailable

    cache = _services().menus
    failed = False
    for location_id in location_ids or cache.locations():
        try:
            entry = cache.refresh(location_id, fallback=False)
            state = "unknown location" if entry.get("unknown") else f"{len(entry['items'])} items"
        except MenuUnavailable as exc:
            state, failed = f"unavailable ({exc})", True
        click.echo(f"{location_id}: {state}")
    if failed:
        raise SystemExit(1)


@menus.command("show")
@click.argument("location_id")
def show_menu(location_id: str) -> None:
    """The cached menu and its age."""
    cache = _services().menus
    entry = cache.cached(location_id)
    if entry is None or entry.get("unknown"):
        raise click.ClickException(f"no menu cached for {location_id!r}")
    _echo(cache.public(entry))


def register(app: Flask) -> None:
    for group in (orders, callbacks, menus):
        app.cli.add_command(group)
