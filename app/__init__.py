"""The Flask app factory and the Celery app it carries (the Flask docs' Celery pattern)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.settings import Settings, load_settings

ARCHIVE_MOVE_SECONDS = 60  # how often beat runs the archive's mover (more often when ARCHIVE_AFTER_SECONDS is short)

if TYPE_CHECKING:  # imported where used: gunicorn's master imports app.logs before gevent patches ssl
    import redis as redis_lib
    from celery import Celery
    from flask import Flask

    from app.archive import Archive
    from app.menus import MenuCache
    from app.orders.service import OrderService
    from app.orders.store import OrderStore
    from app.pos.base import PosAdapter
    from app.tasks import Tasks


@dataclass
class Services:
    settings: Settings
    redis: redis_lib.Redis
    store: OrderStore
    menus: MenuCache
    pos: PosAdapter
    service: OrderService
    tasks: Tasks
    celery: Celery
    archive: Archive | None = None  # ARCHIVE_URL's (app/archive/); None: finals stay in Redis

    def broker_ping(self) -> None:
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)

    def broker_redis(self) -> redis_lib.Redis | None:
        """The broker's Redis (where the queues' lists are), or None for a broker that is not Redis."""
        from urllib.parse import urlparse

        if self.settings.broker_url == self.settings.redis_url:
            return self.redis
        if urlparse(self.settings.broker_url).scheme not in ("redis", "rediss"):
            return None
        if "broker" not in _BROKER_CLIENTS:
            from app.redis_client import make_client

            _BROKER_CLIENTS["broker"] = make_client(self.settings, self.settings.broker_url)
        return _BROKER_CLIENTS["broker"]


_BROKER_CLIENTS: dict[str, redis_lib.Redis] = {}  # one pooled client per process for the broker's Redis


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    from celery import Celery, Task

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(settings))
    from app import redis_client as clients

    clients.attach_beat_client(celery, settings)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def celery_config(settings: Settings) -> dict:
    """Celery executes; the schedule decides (app/orders/store.py). A task is one look at one
    order, acknowledged when it starts: a task lost with its worker is sent again by the sweep
    once its move is due, so neither late acks nor the visibility timeout carry any guarantee."""
    from app import redis_client as clients  # imported where used (redis before gevent's patching)

    return {
        "broker_url": clients.broker_url(settings),
        "result_backend": clients.result_backend(settings),
        "result_backend_transport_options": clients.sentinel_options(settings),
        "task_ignore_result": settings.result_backend is None,
        "worker_prefetch_multiplier": 1,
        # max_connections: kombu's default pool of 10 runs out when a gevent worker's tasks ack
        # together ("Couldn't ack ... MaxConnections").
        # With REDIS_SENTINELS: kombu's sentinel:// transport and master_name (app/redis_client.py).
        "broker_transport_options": clients.broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "task_default_queue": "orders",
        "task_routes": {
            "workers.callbacks.*": {"queue": "callbacks"},
            "workers.sweep.*": {"queue": "maintenance"},
            "workers.archive.*": {"queue": "maintenance"},
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": True,
        "task_send_sent_event": False,  # beat's sweeps would fill Flower's list; order tasks show from received
        "worker_hijack_root_logger": False,
        # beat: the schedule and a lock in Redis (celery-redbeat): no file to keep, and a second
        # beat waits on the lock and takes over when the first dies.
        "beat_scheduler": "workers.beat:Scheduler",
        "redbeat_redis_url": settings.broker_url,
        "redbeat_key_prefix": "redbeat",
        "redbeat_lock_timeout": max(10, 5 * settings.sweep_seconds),
        "beat_max_loop_interval": max(1, settings.sweep_seconds),
        "beat_schedule": {
            "refresh-menus": {"task": "workers.sweep.refresh_menus", "schedule": float(settings.menu_refresh_seconds)},
            "sweep-orders": {"task": "workers.sweep.sweep_orders", "schedule": float(settings.sweep_seconds)},
            "trim": {"task": "workers.sweep.trim", "schedule": 3600.0},
            # no-ops without ARCHIVE_URL (workers/archive.py)
            "archive-move": {
                "task": "workers.archive.move_finals",
                "schedule": float(max(1, min(ARCHIVE_MOVE_SECONDS, settings.archive_after_seconds // 4))),
            },
            "archive-retention": {"task": "workers.archive.retention", "schedule": 3600.0},
        },
        "imports": ("workers.orders", "workers.callbacks", "workers.sweep", "workers.archive"),
    }


def check_durability_at_start(app: Flask) -> str | None:
    """Start-up truth for a serving process (web, worker): a Redis that cannot keep the durability
    promise it was configured for is one ERROR line naming the setting (and /readyz says so
    until it holds). The CLI does not ask: a command must not wait on it."""
    services = app.extensions["posbridge"]
    problem = services.store.durability.check(services.redis)
    if problem:
        logging.getLogger("app").error("durability not kept: %s", problem, extra={"setting": "DURABILITY"})
    return problem


def create_app(
    settings: Settings | None = None,
    *,
    redis_client=None,
    pos=None,
    tasks: Tasks | None = None,
    redis_timeout: float | None = None,
    archive=None,
) -> Flask:
    """redis_timeout: the Redis client's read timeout (the worker's; default the web's, 1 s)."""
    from flask import Flask

    from app import errors, metrics, tracing
    from app.archive import open_archive
    from app.body import check_limits, close_if_unread
    from app.menus import MenuCache
    from app.orders.durability import Durability
    from app.orders.service import OrderService
    from app.orders.store import OrderStore
    from app.pos import make_adapter
    from app.routes import docs, health, menus
    from app.routes import orders as order_routes
    from app.tasks import CeleryTasks

    settings = settings or load_settings()
    tracing.setup(settings)  # once per process, here for web, worker, beat and CLI alike; off: a no-op
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    celery = celery_init_app(app, settings)
    from app import redis_client as clients

    redis_client = redis_client or clients.make_client(settings, socket_timeout=redis_timeout or clients.SOCKET_TIMEOUT)
    pos = pos or make_adapter(settings, observe=metrics.observe_pos)
    tasks = tasks or CeleryTasks(celery, traces=tracing.order_traces(redis_client))
    durability = Durability(settings.durability, settings.durability_replicas, settings.durability_timeout_ms)
    archive = archive or open_archive(settings)
    store = OrderStore(
        redis_client, retention_days=settings.order_retention_days, durability=durability, archive=archive
    )
    menu_cache = MenuCache(redis_client, pos, settings.menu_refresh_seconds)
    service = OrderService(settings, store, menu_cache, pos, tasks)
    app.extensions["posbridge"] = Services(
        settings, redis_client, store, menu_cache, pos, service, tasks, celery, archive
    )
    app.before_request(check_limits)
    errors.register(app)
    metrics.register_request_hooks(app)
    app.after_request(close_if_unread)
    for blueprint in (order_routes.bp, menus.bp, health.bp, docs.bp):
        app.register_blueprint(blueprint)
    tracing.instrument_app(app)
    return app
