"""The console's pages and actions. An action is a GET that shows what it will do and a form
that POSTs it (with the CSRF token guard.py checks); its outcome is flashed on the order's page
(post/redirect/get) and logged, and the order's history records it as by `console:<user>`."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from app.console import queries, timeline
from app.console.guard import by
from schemas.fields import is_key

log = logging.getLogger(__name__)
bp = Blueprint("console", __name__)
ACTIONS = {
    "redrive": (
        "Re-drive",
        "make its next move due now and hand it to a worker (safe: the POS call is "
        "idempotent and leased; nothing starts while a move is in flight)",
    ),
    "replay": ("Replay callback", "send its callback to PAR again, from the first attempt"),
}


def _services():
    return current_app.extensions["posbridge"]


def _order_or_404(uid: str):
    order = _services().store.get(uid) if is_key(uid) else None
    if order is None:
        abort(404, f"no order {uid!r}")
    return order


@bp.get("/")
def index():
    return render_template(
        "index.html", counts=queries.counts(_services()), lists=queries.LISTS, statuses=queries.STATUSES
    )


@bp.get("/find")
def find():
    uid = request.args.get("uid", "").strip()
    if not is_key(uid):
        abort(400, "a request_uid is 1-128 characters of A-Z a-z 0-9 . _ ~ -")
    if not _services().store.exists(uid):
        abort(404, f"no order {uid!r}")
    return redirect(url_for("console.order", uid=uid))


@bp.get("/orders/<uid>")
def order(uid: str):
    found = _order_or_404(uid)
    return render_template("order.html", view=timeline.view(_services().store, found), actions=ACTIONS)


@bp.get("/lists/<kind>")
def listed(kind: str):
    if kind not in queries.LISTS:
        abort(404, f"no list {kind!r}")
    rows = queries.listed(_services(), kind, queries.LIMIT)
    return render_template("list.html", title=queries.LISTS[kind], kind=kind, rows=rows, limit=queries.LIMIT)


@bp.get("/recent")
def recent():
    location = request.args.get("location", "").strip() or None
    status = request.args.get("status", "").strip() or None
    try:
        minutes = max(1, min(int(request.args.get("minutes", "60")), 60 * 24 * 31))
    except ValueError:
        abort(400, "minutes is a whole number")
    if (location and not is_key(location)) or (status and status not in queries.STATUSES):
        abort(400, "location is an id of A-Z a-z 0-9 . _ ~ -; status one of " + ", ".join(queries.STATUSES))
    rows = queries.recent(_services(), time.time() - minutes * 60, location, status, queries.LIMIT)
    title = (
        f"Recent orders: last {minutes} min"
        + (f", at {location}" if location else "")
        + (f", {status}" if status else "")
    )
    return render_template("list.html", title=title, kind="recent", rows=rows, limit=queries.LIMIT)


@bp.route("/orders/<uid>/<action>", methods=["GET", "POST"])
def act(uid: str, action: str):
    if action not in ACTIONS:
        abort(404, f"no action {action!r}")
    found = _order_or_404(uid)
    if request.method == "GET":
        return render_template(
            "confirm.html", order=found, action=action, label=ACTIONS[action][0], what=ACTIONS[action][1]
        )
    done, message = (_redrive if action == "redrive" else _replay)(found)
    log.info(
        "console action", extra={"request_uid": uid, "action": action, "by": by(), "done": done, "outcome": message}
    )
    flash(message, "ok" if done else "failed")
    return redirect(url_for("console.order", uid=uid))


def _redrive(found) -> tuple[bool, str]:
    if found.final:
        return False, f"not re-driven: the order is already {found.status}"
    moved, why = _services().service.redrive(found.uid, by())
    return moved, (
        f"re-driven by {by()}: a worker takes it now"
        if moved
        else f"not re-driven: {why} (a move is in flight)"
        if why == "busy"
        else f"not re-driven: {why}"
    )


def _replay(found) -> tuple[bool, str]:
    if not found.doc.get("callback_url"):
        return False, "not replayed: the order has no callback_url"
    if not found.final:
        return False, "not replayed: the order is not final yet; its callback goes when it is"
    replayed, why = _services().service.replay_callback(found.uid, by())
    return replayed, (
        f"callback replay queued by {by()}"
        if replayed
        else f"not replayed: {why}" + (" (a delivery is in flight)" if why == "busy" else "")
    )


@bp.app_errorhandler(400)
@bp.app_errorhandler(404)
def problem(error):
    return render_template("problem.html", code=error.code, message=error.description), error.code


def trouble(error: Exception):
    """Redis or the broker not answering: said as such (503), as the CLI says it, not a bare 500."""
    log.warning("console: Redis or broker trouble", extra={"error": type(error).__name__})
    where = "Redis" if isinstance(error, RedisError) else "the broker"
    return render_template(
        "problem.html", code=503, message=f"{where} does not answer: {type(error).__name__}: {error}"
    ), 503


for _kind in (RedisError, OperationalError):
    bp.app_errorhandler(_kind)(trouble)
