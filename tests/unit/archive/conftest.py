"""The archive's tests run twice: on a SQLite file and on a real PostgreSQL
(tests/support/postgres.py), the app on fakeredis with the fake POS (tests/conftest.py)."""

from __future__ import annotations

import time

import pytest

from app import create_app
from app.archive import Archive
from app.archive.mover import ArchiveMover
from app.archive.schema import migrate
from tests.conftest import JWT_SECRET
from tests.support import postgres
from tests.support.factories import make_token


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'archive.sqlite3'}"
        return
    with postgres.database() as url:
        yield url


@pytest.fixture
def archive(archive_url):
    found = Archive(archive_url)
    migrate(found.engine, time.time())
    yield found
    found.engine.dispose()


@pytest.fixture
def app(settings, redis_client, pos, tasks, archive):
    flask_app = create_app(settings, redis_client=redis_client, pos=pos, tasks=tasks, archive=archive)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def move(services):
    """Move every final order now (ARCHIVE_AFTER_SECONDS in the past)."""

    def run(**kwargs):
        return ArchiveMover(services.store, services.archive, after_seconds=-60, **kwargs).run()

    return run


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {make_token(JWT_SECRET)}"}
