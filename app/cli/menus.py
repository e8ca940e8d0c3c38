"""`posbridge menus show|refresh` (also under `flask --app app.wsgi`): see and refresh cached menus."""

from __future__ import annotations

import click

from app.cli.output import Trouble, echo_json, safe, say
from app.cli.services import current_services

menus = click.Group("menus", help="See and refresh cached menus.")


@menus.command("refresh")
@click.argument("location_ids", nargs=-1)
def refresh_menus(location_ids: tuple[str, ...]) -> None:
    """Fetch menus from the POS now (all cached locations if none is named); exit 1 unless every
    one was fetched (a POS that fails keeps the cached menu, and this says so)."""
    from app.menus import MenuUnavailable

    cache = current_services().menus
    failed = False
    for location_id in location_ids or cache.locations():
        try:
            entry = cache.refresh(location_id, fallback=False)
        except MenuUnavailable as exc:
            failed = True
            kept = cache.cached(location_id)
            if kept is not None and not kept.get("unknown"):
                say(
                    f"{safe(location_id)}: NOT refreshed: the POS did not answer ({safe(exc)}); serving the cached "
                    f"menu ({len(kept.get('items') or {})} items, {round(cache.age(kept))} s old)"
                )
            else:
                say(f"{safe(location_id)}: unavailable: the POS did not answer ({safe(exc)}) and no menu is cached")
            continue
        state = "unknown location" if entry.get("unknown") else f"{len(entry['items'])} items"
        say(f"{safe(location_id)}: {state}")
    if failed:
        raise SystemExit(1)


@menus.command("show")
@click.argument("location_id")
def show_menu(location_id: str) -> None:
    """The cached menu and its age."""
    cache = current_services().menus
    entry = cache.cached(location_id)
    if entry is None or entry.get("unknown"):
        raise Trouble(f"no menu cached for {location_id!r}")
    echo_json(cache.public(entry))
