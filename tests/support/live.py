"""The real stack for integration tests: a private redis-server, the POS simulator, gunicorn,
Celery worker(s) and beat, and on request the order console, all started from the Procfile's
commands (bin/stack.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
import requests

from app import jsonio, signing
from bin.stack import ROOT, EmbeddedRedis, Stack, free_port, short_env, wait_for_http, wait_for_port, wait_for_workers
from tests.support.factories import encode, make_token

JWT_SECRET = "live-jwt-secret-0123456789abcdef0123"
SHARED_ID = "LiveShared-0123456789"
POS_TOKEN = "live-pos-token"
CONSOLE_USER, CONSOLE_PASSWORD = "oncall", "live-console-password-0123"  # FLOWER_BASIC_AUTH


def live_env(redis_url: str, **overrides) -> dict[str, str]:
    return short_env(redis_url, POS_TOKEN, SHARED_ID, JWT_SECRET, **overrides)


class Live:
    """One running stack and the calls a test makes against it."""

    def __init__(
        self,
        tmp_dir: str,
        beat: bool = True,
        workers: int = 1,
        redis_aof: bool = False,
        root: str | None = None,
        console: bool = False,
        **overrides,
    ):
        self.tmp_dir = tmp_dir
        self.redis_server = EmbeddedRedis(directory=os.path.join(tmp_dir, "redis"), appendonly=redis_aof).start()
        self.pos_port, self.web_port = free_port(), free_port()
        self.pos_url = f"http://127.0.0.1:{self.pos_port}"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        # a Redis without AOF keeps no durability promise: the test says so (operations.md, DURABILITY)
        overrides.setdefault("DURABILITY", "fsync" if redis_aof else "none")
        overrides.setdefault("FLOWER_BASIC_AUTH", f"{CONSOLE_USER}:{CONSOLE_PASSWORD}")
        self.console, self.console_port = console, free_port()
        self.console_url = f"http://127.0.0.1:{self.console_port}"
        self.env = live_env(
            self.redis_server.url,
            PORT=self.web_port,
            POSSIM_PORT=self.pos_port,
            POS_BASE_URL=self.pos_url,
            CONSOLE_PORT=self.console_port,
            CONSOLE_ADDRESS="127.0.0.1",
            **overrides,
        )
        self.stack = Stack(self.env, log_dir=os.path.join(tmp_dir, "logs"), root=root or ROOT)
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
        if self.console:
            self.stack.start("console")
        wait_for_http(f"{self.base_url}/healthz", 60, self.stack.processes["web"])
        if self.console:  # it answers 401 without the login: its port is the sign
            wait_for_port(self.console_port, 60, self.stack.processes["console"])
        self.wait_for_workers(self.worker_count)
        return self

    def start_worker(self, index: int = 1):
        return self.stack.start("worker", label=f"worker{index}", WORKER_NAME=str(index))

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        try:
            wait_for_workers(self.redis_server.url, count, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; log: {self.stack.log('worker1')[-3000:]}") from None

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
        return self.http.get(
            f"{self.base_url}/posnext/orders/{uid}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

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

    # -- helpers added for the submit, failure and recovery tests ---------------------
    def get(self, path: str, timeout: float = 10, **params):
        """A GET with PAR's JWT."""
        return self.http.get(
            self.base_url + path,
            params=params or None,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )

    def pos_stats(self) -> dict:
        """The simulator's counters: post_orders by status, orders_created, in_progress."""
        response = self.pos.get(f"{self.pos_url}/_admin/stats", timeout=5)
        response.raise_for_status()
        return response.json()

    def record(self, uid: str) -> dict[str, str]:
        """The order's raw hash in Redis (status, attempts, handed_off, callback, ...)."""
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(f"order:{uid}").items()}

    def history(self, uid: str) -> list[dict]:
        return [jsonio.loads(entry) for entry in self.redis.lrange(f"order:{uid}:history", 0, -1)]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """`flask --app app.wsgi ARGS` with the stack's environment."""
        return subprocess.run(
            ["flask", "--app", "app.wsgi", *args],
            cwd=ROOT,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def posbridge(
        self, *args: str, timeout: float = 60, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """The `posbridge` console script with the stack's environment (or `env`), from `cwd` (default:
        a directory of its own, so no .env or var/serve.env of the checkout is read)."""
        import shutil
        import tempfile

        where = cwd or tempfile.mkdtemp(prefix="posbridge-cli-")
        script = shutil.which("posbridge", path=self.stack.env["PATH"]) or "posbridge"
        return subprocess.run(
            [script, *args],
            cwd=where,
            env=self.stack.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def warm_menu(self, location_id: str = "loc-001") -> dict:
        """Have the service cache the location's menu (GET /posnext/menus)."""
        response = self.get("/posnext/menus", location_id=location_id)
        response.raise_for_status()
        return response.json()

    # -- helpers added for the engine fault tests (tests/integration/test_engine_faults.py) --
    def freeze(self, label: str) -> None:
        """SIGSTOP the process group (gunicorn's master and workers, say): it holds whatever it
        holds, does nothing, and its timers do not run until `thaw`."""
        self.stack.send(label, signal.SIGSTOP)

    def thaw(self, label: str) -> None:
        self.stack.send(label, signal.SIGCONT)

    def kill_redis(self) -> None:
        """SIGKILL redis-server: no shutdown, no last AOF flush of its own."""
        self.redis_server.stop(kill=True)

    def restart_redis(self, timeout: float = 30) -> None:
        """redis-server again on the same port and directory (it loads its AOF, if on)."""
        self.redis_server.start()
        end = time.monotonic() + timeout
        while True:
            try:
                if self.redis.ping():
                    return
            except redis.exceptions.RedisError:
                if time.monotonic() > end:
                    raise
            time.sleep(0.05)

    def start_beat(self, label: str = "beat2", **env: str):
        """Another beat from the Procfile's line (its own schedule file, should the line use one)."""
        env.setdefault("BEAT_SCHEDULE_FILE", os.path.join(self.tmp_dir, f"{label}-schedule"))
        return self.stack.start("beat", label=label, **env)

    def pos_calls(self, external_id: str) -> dict:
        """The simulator's count of the calls for one order: {"posts": n, "lookups": n, ...}."""
        response = self.pos.get(f"{self.pos_url}/_admin/ledger", params={"external_id": external_id}, timeout=5)
        response.raise_for_status()
        return response.json()["calls"].get(external_id, {"posts": 0, "lookups": 0, "last_post_at": None})

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled series in the web's /metrics, None when absent."""
        text = self.http.get(f"{self.base_url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{}")):
                return float(line.rsplit(" ", 1)[1])
        return None


def start_live(tmp_dir: str, **kwargs) -> Live:
    """A started Live; on a failed start the processes' logs are printed and it is stopped."""
    live = Live(tmp_dir, **kwargs)
    try:
        return live.start()
    except Exception:
        for label in live.stack.processes:
            print(f"--- {label}\n{live.stack.log(label)[-3000:]}")
        live.stop()
        raise


def wait_until(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; its value. TimeoutError naming `message` otherwise."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"{message} not reached within {timeout}s")
        time.sleep(interval)


def digest_ok(response: requests.Response, shared_id: str = SHARED_ID) -> bool:
    """Whether the answer's x-pch-digest verifies against its body with PAR's key."""
    body = jsonio.loads(response.content)
    return signing.verify(signing.key_from_shared_id(shared_id), body, response.headers.get("x-pch-digest"))


def at_once(calls, timeout: float = 60) -> list:
    """Run the callables in as many threads, released together; their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # the caller asserts on it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def post_signed(
    base_url: str, path: str, body: dict, token: str, timeout: float = 30, shared_id: str = SHARED_ID
) -> requests.Response:
    """One signed POST on its own connection (safe from many threads at once)."""
    data, headers = encode(body, shared_id, token)
    return requests.post(base_url + path, data=data, headers=headers, timeout=timeout)


class CallbackReceiver:
    """A small HTTP server in a thread that records every POST; answers `status` (settable)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[tuple[dict, bytes]] = []  # (headers, raw body) in arrival order
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, uid: str | None = None) -> list[tuple[dict, bytes]]:
        with self.lock:
            return [(h, raw) for h, raw in self.received if uid is None or jsonio.loads(raw).get("request_uid") == uid]
