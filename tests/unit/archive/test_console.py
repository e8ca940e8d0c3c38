"""The order console reads an archived order as one in Redis (issue 21, 3: "the console")."""

from __future__ import annotations

import pytest

from app.console import create_console
from tests.support.console import PASSWORD, USER, Browser
from tests.support.factories import sample_order


@pytest.fixture
def env(env):
    return dict(env, FLOWER_BASIC_AUTH=f"{USER}:{PASSWORD}")


@pytest.fixture
def browser(app, services):
    console = create_console(services=services)
    console.testing = True
    return Browser(console.test_client())


def test_the_console_shows_an_archived_order_and_lists_it(post, browser, redis_client, move):
    assert post("/posnext/order/submit", sample_order(uid="con-1")).status_code == 200
    assert move().moved == 1 and not redis_client.exists("order:con-1")
    page = browser.get("/orders/con-1").text
    assert '<span id="order-uid">con-1</span>' in page and 'class="status placed"' in page
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert "received" in timeline  # its history, from the archive
    assert "con-1" in browser.get("/recent?minutes=60").text  # the recent list reads both places
