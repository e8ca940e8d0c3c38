"""Fixtures of the fast layer: the real Flask app on fakeredis, a fake POS and task recorder."""

from __future__ import annotations

import fakeredis
import pytest

from app import create_app, jsonio
from app.settings import load_settings
from tests.support import fakeredis_sha1hex
from tests.support.factories import encode, make_token, sample_order
from tests.support.fakes import FakePos, FakeTasks

fakeredis_sha1hex.install()  # real Redis's redis.sha1hex in the fake's Lua (app/menus.py versions menus by it)

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123"
SHARED_ID = "SharedId-0123456789"
BASE_ENV = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "POS_BASE_URL": "http://127.0.0.1:1",
    "POS_API_TOKEN": "test-pos-token",
    "PAR_SHARED_ID": SHARED_ID,
    "PAR_JWT_SECRET": JWT_SECRET,
    "INLINE_BUDGET_MS": "20000",  # a test meets the budget only when it asks to: load must not turn 200 into 202
    "RETRY_BASE_SECONDS": "0.05",
    "RETRY_CAP_SECONDS": "0.2",
    "POS_READ_TIMEOUT": "2",
}


@pytest.fixture
def env() -> dict:
    return dict(BASE_ENV)


@pytest.fixture
def settings(env):
    return load_settings(env)


@pytest.fixture
def redis_client():
    return fakeredis.FakeRedis()


@pytest.fixture
def pos():
    return FakePos()


@pytest.fixture
def tasks():
    return FakeTasks()


@pytest.fixture
def app(settings, redis_client, pos, tasks):
    flask_app = create_app(settings, redis_client=redis_client, pos=pos, tasks=tasks)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def services(app):
    return app.extensions["posbridge"]


@pytest.fixture
def token():
    return make_token(JWT_SECRET)


class Poster:
    """Posts signed orders to the app the way PAR does."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    def __call__(self, path: str, body: dict, headers: dict | None = None):
        data, signed = encode(body, SHARED_ID, self.token)
        signed.update(headers or {})
        response = self.client.post(path, data=data, headers=signed)
        response.body = jsonio.loads(response.data) if response.data else None
        return response


@pytest.fixture
def post(client, token):
    return Poster(client, token)


@pytest.fixture
def order():
    return sample_order
