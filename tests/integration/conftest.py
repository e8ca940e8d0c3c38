"""Integration fixtures: each module gets its own real stack (tests/support/live.py)."""

from __future__ import annotations

import pytest

from tests.support.live import Live, start_live


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = Live(str(tmp_path_factory.mktemp("live")))
    try:
        stack.start()
    except Exception:
        for label in stack.stack.processes:
            print(f"--- {label}\n{stack.stack.log(label)[-3000:]}")
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture
def fresh(live):
    """The shared stack with the simulator's knobs and ledger back to the seed."""
    live.reset_pos()
    yield live
    live.reset_pos()


@pytest.fixture
def stacks(tmp_path):
    """start(**settings) -> a started Live; every one stopped after the test."""
    started = []

    def start(**kwargs):
        live = start_live(str(tmp_path / f"stack{len(started)}"), **kwargs)
        started.append(live)
        return live

    yield start
    for live in started:
        for label in list(live.stack.processes):
            live.thaw(label)  # a frozen process would not hear SIGTERM
        live.stop()
