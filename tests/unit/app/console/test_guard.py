"""The console's door: 401 without the on-call login on every path, 403 on a POST without the
CSRF token (nothing done), and the headers that keep it out of frames and caches."""

from __future__ import annotations

import re

import pytest

from app.console import create_console
from app.settings import ConfigError
from tests.support.console import PASSWORD, USER, basic, order_with

PATHS = ["/", "/find?uid=x", "/orders/ord-1", "/orders/ord-1/redrive", "/lists/open", "/recent", "/static/console.css"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "headers",
    [{}, basic(USER, "wrong-password-0123456789"), basic("intruder", PASSWORD), {"Authorization": "Bearer x"}],
)
def test_every_path_needs_the_login(console, path, headers):
    answer = console.test_client().get(path, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith('Basic realm="posbridge console"')


def test_a_post_without_the_login_is_401_before_any_csrf_check(console, services):
    order_with(services, "ord-1")
    answer = console.test_client().post("/orders/ord-1/redrive", data={})
    assert answer.status_code == 401
    assert services.store.history("ord-1")[-1]["note"] != "re-driven"


@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}])
def test_a_post_without_a_valid_csrf_token_is_403_and_does_nothing(console, services, tasks, data):
    order_with(services, "ord-1")
    client = console.test_client()
    client.get("/orders/ord-1/redrive", headers=basic())  # a session exists: only the token is missing
    answer = client.post("/orders/ord-1/redrive", data=data, headers=basic())
    assert answer.status_code == 403 and "refused" in answer.text
    assert tasks.sent == [] and all(h["note"] != "re-driven" for h in services.store.history("ord-1"))


def test_a_token_from_another_session_is_refused(console, services, tasks, browser):
    order_with(services, "ord-1")
    page = browser.get("/orders/ord-1/redrive")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    other = console.test_client()  # no session cookie of that page: an attacker's page cannot read it
    assert other.post("/orders/ord-1/redrive", data={"csrf_token": token}, headers=basic()).status_code == 403
    assert tasks.sent == []


def test_pages_are_not_framed_cached_or_scripted(browser, services):
    order_with(services, "ord-1")
    answer = browser.get("/orders/ord-1/redrive")  # a form: its session cookie is set
    assert answer.status_code == 200
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "script-src" not in answer.headers["Content-Security-Policy"]  # default-src 'none': no script
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("posbridge_console=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_the_console_refuses_to_exist_without_the_login(services, settings):
    from dataclasses import replace

    with pytest.raises(ConfigError, match="FLOWER_BASIC_AUTH"):
        create_console(settings=replace(settings, flower_basic_auth=None), services=services)
