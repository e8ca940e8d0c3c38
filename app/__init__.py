"""The Flask app factory and the Celery app it carries (the Flask docs' Celery pattern)."""

from __future__ import annotations

from dataclasses import dataclass

import redis as redis_lib
from celery import Celery, Task
from flask import Flask

from app.settings import Settings, load_settings


@dataclass
class Services:
    settings: Settings
    redis: redis_lib.Redis
    store: object
    menus: object
    pos: object
    service: object
    tasks: object
    celery: Celery

    def broker_ping(self) -> None:
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_config(settings))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def celery_config(settings: Settings) -> dict:
    """At-least-once delivery: late acks, requeue on a lost worker, one message at a time."""
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "task_ignore_result": settings.result_backend is None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # max_connections: kombu's default pool of 10 runs out when a gevent worker's tasks ack
        # together ("Couldn't ack ... MaxConnections": redelivered after visibility_timeout).
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout,
                                     "socket_timeout": 5, "socket_connect_timeout": 2, "max_connections": 1000},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": "orders",
        "task_routes": {"workers.callbacks.*": {"queue": "callbacks"},
                        "workers.sweep.*": {"queue": "maintenance"}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "refresh-menus": {"task": "workers.sweep.refresh_menus", "schedule": float(settings.menu_refresh_seconds)},
            "sweep-orders": {"task": "workers.sweep.sweep_orders", "schedule": float(settings.sweep_seconds)},
        },
        "imports": ("workers.orders", "workers.callbacks", "workers.sweep"),
    }


def create_app(settings: Settings | None = None, *, redis_client=None, pos=None, tasks=None) -> Flask:
    from app import cli, errors, metrics
    from app.menus import MenuCache
    from app.orders.service import OrderService
    from app.orders.store import OrderStore
    from app.pos.rest import RestPos
    from app.routes import docs, health, menus
    from app.routes import orders as order_routes
    from app.tasks import CeleryTasks

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    celery = celery_init_app(app, settings)
    redis_client = redis_client or redis_lib.Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30,
        max_connections=1000)
    pos = pos or RestPos(settings.pos_base_url, settings.pos_api_token, settings.pos_connect_timeout,
                         settings.pos_read_timeout, observe=metrics.observe_pos)
    tasks = tasks or CeleryTasks(celery)
    store = OrderStore(redis_client, settings.order_retention_days)
    menu_cache = MenuCache(redis_client, pos, settings.menu_refresh_seconds)
    service = OrderService(settings, store, menu_cache, pos, tasks)
    app.extensions["posbridge"] = Services(settings, redis_client, store, menu_cache, pos, service, tasks, celery)
    errors.register(app)
    for blueprint in (order_routes.bp, menus.bp, health.bp, docs.bp):
        app.register_blueprint(blueprint)
    cli.register(app)
    return app
