"""/metrics and /readyz (issue 20, deliver 2 and 3): the build's version, the figures that need
Redis flagged by posbridge_metrics_redis_up, readiness that names the durability problem."""

from __future__ import annotations

from importlib import metadata


def test_metrics_name_the_build(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert 'posbridge_build_info{python="' in text
    assert f'version="{metadata.version("posbridge")}"}} 1.0' in text
