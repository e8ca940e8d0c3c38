"""Fixtures of the order code's unit tests: a hand-moved clock, the store on fakeredis (its
scripts run on that clock instead of Redis's TIME), and the engine over them with the fake POS
and task queue (tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.menus import MenuCache
from app.orders.checks import OrderChecks
from app.orders.finals import Finals
from app.orders.moves import Mover
from app.orders.store import OrderStore
from tests.support.fakes import FakePos
from tests.support.helpers import NOW, Clock


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def pos(clock):
    """The fake POS judges not_after on the same hand-moved clock."""
    return FakePos(clock)


@pytest.fixture
def store(redis_client, clock):
    return OrderStore(redis_client, clock=clock)


@pytest.fixture
def menus(redis_client, pos, settings, clock):
    return MenuCache(redis_client, pos, settings.menu_refresh_seconds, clock)


@pytest.fixture
def mover(store, pos, menus, settings, tasks, clock):
    return Mover(store, pos, OrderChecks(menus, settings), Finals(store, tasks, clock), settings)
