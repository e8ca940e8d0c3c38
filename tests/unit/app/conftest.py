"""Fixtures of the order code's unit tests: a hand-moved clock, the store on fakeredis, and
Placement over them with the fake POS and task queue (tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.orders.placement import Placement
from app.orders.store import OrderStore
from tests.unit.helpers import NOW, Clock


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def store(redis_client):
    return OrderStore(redis_client)


@pytest.fixture
def placement(store, pos, settings, tasks, clock):
    return Placement(store, pos, settings, tasks, clock)
