"""POS adapters (base.py: the interface), chosen by POS_ADAPTER from one registry, ADAPTERS:
its name -> the function that builds it from the settings (the adapter's module is imported
only when chosen). The settings' choices and the adapter contract test read the same registry;
CONTRIBUTING.md, "A new POS adapter"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.pos.base import PosAdapter
    from app.pos.rest import Observe
    from app.settings import Settings


def _rest(settings: Settings, observe: Observe | None = None) -> PosAdapter:
    from app.pos.rest import RestPos

    return RestPos(
        settings.pos_base_url,
        settings.pos_api_token,
        connect_timeout=settings.pos_connect_timeout,
        read_timeout=settings.pos_read_timeout,
        observe=observe,
        ca_bundle=settings.pos_ca_bundle,
    )


def _square(settings: Settings, observe: Observe | None = None) -> PosAdapter:
    from app.pos.square import SquarePos

    return SquarePos(
        settings.pos_base_url,
        settings.pos_api_token,
        connect_timeout=settings.pos_connect_timeout,
        read_timeout=settings.pos_read_timeout,
        observe=observe,
        ca_bundle=settings.pos_ca_bundle,
        version=settings.square_version,
        location_map=settings.square_location_map,
        search_window=settings.square_search_window_seconds,
        currency=settings.square_currency,
    )


ADAPTERS: dict[str, Callable[[Settings, Observe | None], PosAdapter]] = {"rest": _rest, "square": _square}


def make_adapter(settings: Settings, observe: Observe | None = None) -> PosAdapter:
    """The adapter POS_ADAPTER names, configured from the settings."""
    try:
        build = ADAPTERS[settings.pos_adapter]
    except KeyError:
        raise ValueError(f"unknown POS_ADAPTER {settings.pos_adapter!r}") from None
    return build(settings, observe)
