"""LeanSession: what requests' Session.request would send, without its per-call merging."""

from __future__ import annotations

import pytest
import requests

from app.pos.session import LeanSession
from tests.support.helpers import LocalServer


@pytest.fixture
def server():
    answers = {"/moved": (302, {}), "/orders": (201, {"pos_order_id": "P-1"})}
    local = LocalServer(lambda method, path, headers, body: answers.get(path.split("?")[0], (200, {"ok": True})))
    yield local
    local.close()


def sent(session: requests.Session, server, method: str, path: str, **kwargs) -> tuple[requests.Response, dict]:
    session.headers.update({"Authorization": "Bearer t", "Accept": "application/json"})
    session.trust_env = False
    response = session.request(method, server.url + path, timeout=5, **kwargs)
    return response, server.seen[-1]


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        (
            "POST",
            "/orders",
            {"data": b'{"a":1}', "headers": {"Idempotency-Key": "k-1", "Content-Type": "application/json"}},
        ),
        ("GET", "/locations/loc%2F1/menu", {}),
        ("GET", "/orders", {"params": {"external_id": "ord 1/é"}}),
    ],
)
def test_the_request_on_the_wire_is_the_one_requests_sends(server, method, path, kwargs):
    lean, seen_lean = sent(LeanSession(), server, method, path, **kwargs)
    plain, seen_plain = sent(requests.Session(), server, method, path, **kwargs)
    assert (lean.status_code, lean.json()) == (plain.status_code, plain.json())
    assert seen_lean["path"] == seen_plain["path"] and seen_lean["body"] == seen_plain["body"]
    assert seen_lean["headers"] == seen_plain["headers"]


def test_a_redirect_is_answered_as_it_is(server):
    response, _ = sent(LeanSession(), server, "POST", "/moved", data=b"{}")
    assert response.status_code == 302 and len(server.seen) == 1


def test_a_header_with_a_line_break_is_refused_as_requests_refuses_it(server):
    with pytest.raises(requests.exceptions.InvalidHeader):
        sent(LeanSession(), server, "POST", "/orders", data=b"{}", headers={"Idempotency-Key": "a\r\nX-Evil: 1"})
    assert server.seen == []


def test_other_keywords_take_requests_full_path(server, monkeypatch):
    session = LeanSession()
    full = []
    monkeypatch.setattr(requests.Session, "request", lambda self, *a, **k: full.append(k) or "full")
    assert session.request("POST", server.url + "/orders", json={"a": 1}) == "full"
    assert full == [{"json": {"a": 1}}]


def test_credentials_in_the_url_take_requests_own_path(monkeypatch):
    """The review: the lean path skipped prepare_auth, so user:pw@ in POS_BASE_URL was dropped."""
    from requests import Session

    from app.pos.session import LeanSession

    taken = []
    monkeypatch.setattr(Session, "request", lambda self, method, url, *a, **k: taken.append(url) or "full")
    assert LeanSession().request("GET", "http://user:pw@pos.invalid/menus", timeout=1) == "full"
    assert taken == ["http://user:pw@pos.invalid/menus"]
