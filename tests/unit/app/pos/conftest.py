"""The POS simulator served in-process over HTTP, for the REST adapter's tests and the contract."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

SIM_TOKEN = "pos-token-123"


@pytest.fixture(scope="module")
def possim():
    from possim.app import create_app

    server = make_server("127.0.0.1", 0, create_app(SIM_TOKEN), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
