"""bin/healthcheck beat (compose's health check, Kubernetes' liveness probe) reaches redbeat's
Redis the way beat does: through the Sentinels when they are set (REDIS_URL's host is unused then)."""

from __future__ import annotations

import fakeredis
import pytest

from bin import healthcheck
from tests.conftest import BASE_ENV


def test_beat_is_checked_through_the_sentinels(monkeypatch):
    env = {**BASE_ENV, "REDIS_SENTINELS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}
    monkeypatch.setattr(healthcheck, "environment", lambda: env)
    made = []
    server = fakeredis.FakeRedis()

    def make_client(settings, url=None, **kwargs):
        made.append(settings.sentinel_hosts)
        return server

    monkeypatch.setattr("app.redis_client.make_client", make_client)
    with pytest.raises(OSError, match="no beat"):
        healthcheck.check("beat")
    server.set("redbeat:lock", "held")
    healthcheck.check("beat")
    assert made and all(made)
