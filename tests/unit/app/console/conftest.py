"""The order console on the real app's objects over fakeredis (tests/conftest.py), with orders
written through the store as the engine writes them."""

from __future__ import annotations

import pytest

from app.console import create_console
from tests.support.console import PASSWORD, USER, Browser


@pytest.fixture
def env(env):
    return dict(env, FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}")


@pytest.fixture
def console(app, services):
    made = create_console(services=services)
    made.testing = True
    return made


@pytest.fixture
def browser(console):
    return Browser(console.test_client())
