"""Flower wholly behind its basic auth: /metrics and /healthcheck too (issue 11, finding 13)."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import tornado.web
from flower.views import monitor
from tornado.testing import AsyncHTTPTestCase

# loaded by path: importing the `workers` package builds the Celery app from the environment
_spec = importlib.util.spec_from_file_location(
    "posbridge_flower", Path(__file__).resolve().parents[3] / "workers" / "flower.py"
)
_flower = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_flower)
protect = _flower.protect


class _App(tornado.web.Application):
    def __init__(self):
        super().__init__([(r"/metrics", monitor.Metrics), (r"/healthcheck", monitor.Healthcheck)])
        self.options = SimpleNamespace(
            basic_auth=["oncall:pw"],
            auth=None,
            url_prefix="",
            auth_provider=None,
            unix_socket="",
            purge_offline_workers=None,
        )

    def purge_offline_worker_metrics(self):
        pass


class TestFinding13(AsyncHTTPTestCase):
    def get_app(self):
        protect()
        return _App()

    def test_metrics_and_healthcheck_need_the_password(self):
        good = {"Authorization": "Basic " + base64.b64encode(b"oncall:pw").decode()}
        bad = {"Authorization": "Basic " + base64.b64encode(b"oncall:nope").decode()}
        for path in ("/metrics", "/healthcheck"):
            assert self.fetch(path).code == 401
            assert self.fetch(path, headers=bad).code == 401
            assert self.fetch(path, headers=good).code == 200

    def test_protect_is_idempotent(self):
        protect()
        protect()
        assert monitor.Metrics.get.posbridge_protected and monitor.Healthcheck.get.posbridge_protected
