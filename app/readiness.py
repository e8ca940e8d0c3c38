"""/readyz's checks (operations.md, "Observability"): Redis and the broker answer, and Redis
keeps the durability promise configured. Cheap enough to probe every few seconds:

- Redis: a PING on the store's pooled client (no new connection per probe); bounded by its
  socket timeouts (app/redis_client.py), so a frozen Redis is a 503 within ~1.5 s.
- the broker: the same answer when it is the same Redis (the default); another Redis URL is
  pinged on a pooled client of its own; anything else (amqp) through kombu.
- durability: the store's `durability.check(redis)` (a problem naming the setting, or None),
  run at most every DURABILITY_CHECK_SECONDS, and only while Redis answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlparse

DURABILITY_CHECK_SECONDS = 5.0


def _failure(exc: BaseException) -> str:
    return f"unreachable: {type(exc).__name__}"


class Readiness:
    def __init__(self, services, clock=time.monotonic) -> None:
        self.services = services
        self.clock = clock
        self._lock = threading.Lock()
        self._durability: tuple[float, str | None] | None = None  # (when checked, its problem)
        self._broker_client: Any = None

    def checks(self) -> dict[str, str]:
        checks = {"redis": self._probe(self.services.redis.ping)}
        settings = self.services.settings
        checks["broker"] = (
            checks["redis"] if settings.broker_url == settings.redis_url else self._probe(self._broker_ping)
        )
        if checks["redis"] == "ok":
            checks["durability"] = self._durability_problem() or "ok"
        return checks

    @staticmethod
    def _probe(call) -> str:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return _failure(exc)
        return "ok"

    def _broker_ping(self) -> None:
        settings = self.services.settings
        if urlparse(settings.broker_url).scheme not in ("redis", "rediss"):
            self.services.broker_ping()
            return
        if self._broker_client is None:
            from app.redis_client import make_client

            self._broker_client = make_client(settings, settings.broker_url)
        self._broker_client.ping()

    def _durability_problem(self) -> str | None:
        now = self.clock()
        with self._lock:
            if self._durability is None or now - self._durability[0] >= DURABILITY_CHECK_SECONDS:
                self._durability = (now, self.services.store.durability.check(self.services.redis))
            return self._durability[1]


def readiness_of(app) -> Readiness:
    """The app's one Readiness (its cache and pooled broker client live as long as the app)."""
    found = app.extensions.get("posbridge.readiness")
    if found is None:
        found = app.extensions["posbridge.readiness"] = Readiness(app.extensions["posbridge"])
    return found
