"""PostgreSQL stopped in the middle of a mover's batch, and restarted (issue 21, 4): a throwaway
cluster the test owns (tests/support/postgres.py), the app on fakeredis. Nothing leaves Redis
unless committed; every order stays readable; the run after the restart finishes the move."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app import create_app, jsonio
from app.archive import Archive, ArchiveUnavailable
from app.archive.mover import ArchiveMover
from app.archive.schema import migrate
from tests.conftest import JWT_SECRET
from tests.support.factories import make_token, sample_order
from tests.support.postgres import Cluster


@pytest.fixture
def cluster():
    found = Cluster()
    found.start()
    yield found
    found.remove()


@pytest.fixture
def archive(cluster):
    found = Archive(cluster.url, timeout=2.0)
    migrate(found.engine, time.time())
    yield found
    found.engine.dispose()


@pytest.fixture
def app(settings, redis_client, pos, tasks, archive):
    flask_app = create_app(settings, redis_client=redis_client, pos=pos, tasks=tasks, archive=archive)
    flask_app.testing = True
    return flask_app


def test_postgresql_stopped_mid_batch_then_restarted(post, client, services, redis_client, archive, cluster):
    auth = {"Authorization": f"Bearer {make_token(JWT_SECRET)}"}
    bodies = {}
    for index in range(5):
        r = post("/posnext/order/submit", sample_order(uid=f"pg-{index}"))
        assert r.status_code == 200
        bodies[f"pg-{index}"] = r.body
    commits = []

    def crash(_conn):  # the second batch's COMMIT meets a PostgreSQL that just went down
        commits.append(1)
        if len(commits) == 2:
            cluster.stop("immediate")

    sa.event.listen(archive.engine, "commit", crash)
    mover = ArchiveMover(services.store, archive, after_seconds=-60, batch=2)
    with pytest.raises(ArchiveUnavailable):
        mover.run()
    sa.event.remove(archive.engine, "commit", crash)
    assert len(commits) == 2
    in_redis = {uid for uid in bodies if redis_client.exists(f"order:{uid}")}
    assert in_redis == {"pg-2", "pg-3", "pg-4"}  # the first batch moved; nothing of the second left Redis
    for uid in sorted(in_redis):  # still answered from Redis while PostgreSQL is down
        assert jsonio.loads(client.get(f"/posnext/orders/{uid}", headers=auth).data) == bodies[uid]
    r = client.get("/posnext/orders/pg-0", headers=auth)
    assert r.status_code == 503 and r.headers["Retry-After"]  # archived, and the archive is away
    cluster.start()
    run = mover.run()
    assert run.moved == 3 and run.backlog == 0
    assert archive.count() == 5
    for uid, body in bodies.items():
        assert jsonio.loads(client.get(f"/posnext/orders/{uid}", headers=auth).data) == body
    listed = client.get("/posnext/orders?location_id=loc-001&limit=2", headers=auth).json
    seen, cursor = [o["request_uid"] for o in listed["orders"]], listed["next"]
    while cursor:
        page = client.get(f"/posnext/orders?location_id=loc-001&limit=2&cursor={cursor}", headers=auth).json
        seen += [o["request_uid"] for o in page["orders"]]
        cursor = page["next"]
    assert seen == sorted(bodies)
