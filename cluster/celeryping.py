"""Ask the Celery workers on a broker (plain or through Sentinel) to answer a ping."""

from __future__ import annotations

import time

from celery import Celery

from app import redis_client as clients
from app.settings import Settings


def ping(settings: Settings, timeout: float = 0.5) -> list[str]:
    app = Celery(broker=clients.broker_url(settings))
    app.conf.broker_transport_options = clients.broker_transport_options(settings)
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001 - the broker may be failing over; the caller asks again
        replies = []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def wait_for_workers(settings: Settings, count: int, timeout: float) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        names = ping(settings)
        if len(names) >= count:
            return names
        time.sleep(0.3)
    raise TimeoutError(f"{count} Celery worker(s) did not answer a ping within {timeout}s")
