"""`posbridge callbacks list|replay` (also under `flask --app app.wsgi`): see and replay callbacks."""

from __future__ import annotations

import click

from app.cli.output import Trouble, safe, say, when
from app.cli.services import asked_by, current_services
from app.orders.lifecycle import MoveResult

callbacks = click.Group("callbacks", help="See and replay callbacks.")


@callbacks.command("list")
def list_callbacks() -> None:
    """Callbacks given up on, kept for replay."""
    store = current_services().store
    dead = store.indexes.dead_callbacks()
    for uid, at in dead:
        order = store.get(uid)
        last = store.field(uid, "cb_result") if order else "record expired"
        say(f"{safe(uid):<36} given up {when(at)}  last: {safe(last)}")
    say(f"{len(dead)} undelivered callback(s)")


@callbacks.command("replay")
@click.argument("request_uids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="every undelivered callback (what `callbacks list` shows)")
@click.option(
    "--now",
    "inline",
    is_flag=True,
    help="deliver from this process (with the service's settings) and show the answer, instead of through a worker",
)
def replay(request_uids: tuple[str, ...], every: bool, inline: bool) -> None:
    """Send orders' callbacks again; the order's history records who asked (by: cli/<operator>)."""
    services = current_services()
    if not request_uids and not every:
        raise click.UsageError("name one or more request_uids, or --all")
    uids = list(request_uids) + ([uid for uid, _ in services.store.indexes.dead_callbacks(10000)] if every else [])
    if not uids:
        say("no undelivered callback")
    failed = False
    for uid in uids:
        try:
            ok = _replay_one(services, uid, inline)
        except Trouble as exc:
            if exc.exit_code != 1:
                raise
            say(f"skipped: {exc.message}")
            ok = False
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


OUTCOMES = {
    MoveResult.DELIVERED: "delivered",
    MoveResult.RETRY: "failed, a worker retries it",
    MoveResult.DEAD: "failed, kept for replay",
}


def _replay_one(services, uid: str, inline: bool) -> bool:
    from app.callbacks import CallbackSender

    order = services.store.get(uid)
    if order is None or not order.doc.get("callback_url"):
        raise Trouble(f"{uid!r} has no callback to replay")
    if not order.final:
        raise Trouble(f"{uid} is not final yet; its callback goes when it is")
    if inline:  # from this process, with the service's settings (cli_environment), as the operator
        replayed, why = services.store.replay_callback(uid, asked_by())
        outcome = CallbackSender(services.settings, services.store).move(uid) if replayed else why
        label = OUTCOMES.get(outcome, outcome)
        say(f"{safe(label)}: {safe(uid)}: {safe(services.store.field(uid, 'cb_result'))}")
        return outcome is MoveResult.DELIVERED
    replayed, why = services.service.replay_callback(uid, asked_by())
    say(f"replay queued: {safe(uid)}" if replayed else f"skipped: {safe(uid)} ({safe(why)})")
    return replayed
