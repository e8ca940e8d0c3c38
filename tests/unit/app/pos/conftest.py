"""The POS simulator served in-process over HTTP, for the REST adapter's tests and the contract;
a scripted local server and REST clients pointed at it, for the answer-by-answer tests."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from app.pos.rest import RestPos
from tests.support.helpers import LocalServer
from tests.support.pos import SIM_TOKEN


@pytest.fixture(scope="module")
def possim():
    from possim.app import create_app

    server = make_server("127.0.0.1", 0, create_app(SIM_TOKEN), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class Script:
    """What the local server answers next, by (method, path without query)."""

    def __init__(self):
        self.answers = {}

    def __call__(self, method, path, headers, body):
        return self.answers.get((method, path.split("?")[0]), (404, {"error": {"code": "not_found"}}))


@pytest.fixture
def script():
    return Script()


@pytest.fixture
def handler(script):
    """What the local server answers with: the script here; a module may serve another (Square)."""
    return script


@pytest.fixture
def server(handler):
    local = LocalServer(handler)
    yield local
    local.close()


@pytest.fixture
def observed():
    return []


@pytest.fixture
def rest(server, observed):
    client = RestPos(
        server.url + "/", SIM_TOKEN, connect_timeout=1.0, read_timeout=5.0, observe=lambda *args: observed.append(args)
    )
    yield client
    client.session.close()


@pytest.fixture
def impatient(server, observed):
    """A client with a short read timeout, for answers that come later than it (SLOW)."""
    client = RestPos(
        server.url, SIM_TOKEN, connect_timeout=1.0, read_timeout=0.3, observe=lambda *args: observed.append(args)
    )
    yield client
    client.session.close()
