"""The real stack for integration tests: a private redis-server, the POS simulator, gunicorn,
Celery worker(s) and beat, all started from the Procfile's commands (bin/stack.py)."""

from __future__ import annotations

import os
import signal
import time

import redis
import requests

from app import jsonio
from bin.sample import encode
from bin.stack import EmbeddedRedis, Stack, free_port, wait_for_http, wait_for_port
from bin.token import make_token

JWT_SECRET = "live-jwt-secret-0123456789abcdef0123"
SHARED_ID = "LiveShared-0123456789"
POS_TOKEN = "live-pos-token"


def live_env(redis_url: str, **overrides) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "POS_API_TOKEN": POS_TOKEN,
        "PAR_SHARED_ID": SHARED_ID,
        "PAR_JWT_SECRET": JWT_SECRET,
        "INLINE_BUDGET_MS": "800",
        "POS_CONNECT_TIMEOUT": "1",
        "POS_READ_TIMEOUT": "3",
        "ORDER_MAX_ASYNC_SECONDS": "20",
        "RETRY_BASE_SECONDS": "0.2",
        "RETRY_CAP_SECONDS": "1",
        "SWEEP_SECONDS": "1",
        "MENU_REFRESH_SECONDS": "60",
        "CALLBACK_ALLOW_PRIVATE": "true",
        "CALLBACK_MAX_ATTEMPTS": "3",
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "20",
        "WEB_BIND": "127.0.0.1",
        "WEB_GRACEFUL_TIMEOUT": "10",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Live:
    """One running stack and the calls a test makes against it."""

    def __init__(self, tmp_dir: str, beat: bool = True, workers: int = 1, **overrides):
        self.redis_server = EmbeddedRedis(directory=os.path.join(tmp_dir, "redis"), appendonly=False).start()
        self.pos_port, self.web_port = free_port(), free_port()
        self.pos_url = f"http://127.0.0.1:{self.pos_port}"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = live_env(self.redis_server.url, PORT=self.web_port, POSSIM_PORT=self.pos_port,
                            POS_BASE_URL=self.pos_url, BEAT_SCHEDULE_FILE=os.path.join(tmp_dir, "beat-schedule"),
                            **overrides)
        self.stack = Stack(self.env, log_dir=os.path.join(tmp_dir, "logs"))
        self.redis = redis.Redis.from_url(self.redis_server.url)
        self.http = requests.Session()
        self.pos = requests.Session()
        self.pos.headers["Authorization"] = f"Bearer {POS_TOKEN}"
        self.token = make_token(JWT_SECRET)
        self.worker_count = workers
        self.beat = beat

    def start(self) -> Live:
        self.stack.start("possim")
        wait_for_port(self.pos_port, 20, self.stack.processes["possim"])
        self.stack.start("web")
        for index in range(self.worker_count):
            self.start_worker(index + 1)
        if self.beat:
            self.stack.start("beat")
        wait_for_http(f"{self.base_url}/healthz", 60, self.stack.processes["web"])
        self.wait_for_workers(self.worker_count)
        return self

    def start_worker(self, index: int = 1):
        return self.stack.start("worker", label=f"worker{index}", WORKER_NAME=str(index))

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self._ping()) >= count:
                return
            time.sleep(0.3)
        raise TimeoutError(f"{count} worker(s) did not answer a ping; log: {self.stack.log('worker1')[-3000:]}")

    def _ping(self) -> list:
        from celery import Celery

        app = Celery(broker=self.redis_server.url)
        try:
            return app.control.ping(timeout=0.5) or []
        finally:
            app.close()

    def stop(self) -> None:
        self.stack.stop_all()
        self.redis_server.stop()

    # -- PAR's side -------------------------------------------------------------------
    def post(self, path: str, body: dict, timeout: float = 30, **headers):
        data, signed = encode(body, SHARED_ID, self.token)
        signed.update(headers)
        return self.http.post(self.base_url + path, data=data, headers=signed, timeout=timeout)

    def submit(self, body: dict, timeout: float = 30):
        return self.post("/posnext/order/submit", body, timeout=timeout)

    def get_order(self, uid: str):
        return self.http.get(f"{self.base_url}/posnext/orders/{uid}",
                             headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def wait_final(self, uid: str, timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            response = self.get_order(uid)
            if response.status_code == 200 and response.json()["status"] != "pending":
                return jsonio.loads(response.content)
            time.sleep(0.1)
        raise TimeoutError(f"{uid} still pending after {timeout}s: {self.get_order(uid).text}")

    # -- the POS simulator ------------------------------------------------------------
    def knobs(self, location: str = "*", **fields) -> dict:
        response = self.pos.put(f"{self.pos_url}/_admin/knobs/{location}", json=fields, timeout=5)
        response.raise_for_status()
        return response.json()

    def ledger(self, external_id: str | None = None) -> list[dict]:
        orders = self.pos.get(f"{self.pos_url}/_admin/ledger", timeout=5).json()["orders"]
        return [o for o in orders if external_id is None or o["external_id"] == external_id]

    def reset_pos(self) -> None:
        self.pos.post(f"{self.pos_url}/_admin/reset", timeout=5).raise_for_status()

    def kill(self, label: str, sig: int = signal.SIGKILL) -> None:
        self.stack.send(label, sig)
        self.stack.processes[label].wait(10)
