"""POS adapters, chosen by POS_ADAPTER (see base.py for the interface)."""

from __future__ import annotations

from app.pos.base import PosAdapter


def make_adapter(settings, observe=None) -> PosAdapter:
    """The adapter POS_ADAPTER names, configured from the settings."""
    if settings.pos_adapter == "rest":
        from app.pos.rest import RestPos

        return RestPos(settings.pos_base_url, settings.pos_api_token, settings.pos_connect_timeout,
                       settings.pos_read_timeout, observe=observe, ca_bundle=settings.pos_ca_bundle)
    if settings.pos_adapter == "square":
        from app.pos.square import SquarePos

        return SquarePos(settings.pos_base_url, settings.pos_api_token, settings.pos_connect_timeout,
                         settings.pos_read_timeout, observe=observe, ca_bundle=settings.pos_ca_bundle,
                         version=settings.square_version, location_map=settings.square_location_map,
                         search_window=settings.square_search_window_seconds, currency=settings.square_currency)
    raise ValueError(f"unknown POS_ADAPTER {settings.pos_adapter!r}")


ADAPTERS = ("rest", "square")
