"""The processes a benchmark drives, started the production way: bin/stack.py and the Procfile.

One embedded redis-server and one POS simulator serve every variant; web variants (ours under
gevent or gthread, the bare Flask baseline, the naive peer) each get a port of their own and
the same gunicorn.conf.py; Celery workers are the Procfile's `worker` command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile

import psutil
import redis
import requests

from bin.stack import EmbeddedRedis, Stack, free_port, wait_for_http, wait_for_port, wait_for_workers
from bin.token import make_token

JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123"
SHARED_ID = "BenchShared-0123456789"
POS_TOKEN = "bench-pos-token"
GUNICORN = "gunicorn {} --config gunicorn.conf.py"
NOOP_TASK = "bench.noop"  # bench/noop_worker.py


class BenchStack:
    def __init__(self, **overrides: str):
        self.dir = tempfile.mkdtemp(prefix="posbridge-bench-")
        self.redis_server = EmbeddedRedis(directory=os.path.join(self.dir, "redis")).start()
        self.pos_port = free_port()
        self.pos_url = f"http://127.0.0.1:{self.pos_port}"
        self.env = {
            "REDIS_URL": self.redis_server.url,
            "POS_BASE_URL": self.pos_url,
            "POS_API_TOKEN": POS_TOKEN,
            "PAR_SHARED_ID": SHARED_ID,
            "PAR_JWT_SECRET": JWT_SECRET,
            "WEB_BIND": "127.0.0.1",
            "POSSIM_PORT": str(self.pos_port),
        }
        self.env.update(overrides)
        self.stack = Stack(self.env, log_dir=os.path.join(self.dir, "logs"))
        worker = self.stack.commands["worker"]
        noop = worker.replace("-A workers", "-A bench.noop_worker")
        self.stack.commands.update(
            {
                "bare": GUNICORN.format("bench.bare_app:application"),
                "naive": GUNICORN.format("bench.naive_peer:application"),
                "noop": noop,
                "worker_prefork": worker.replace("--pool gevent", "--pool prefork"),
                "noop_prefork": noop.replace("--pool gevent", "--pool prefork"),
            }
        )
        self.redis = redis.Redis.from_url(self.redis_server.url)
        self.pos = requests.Session()
        self.pos.headers["Authorization"] = f"Bearer {POS_TOKEN}"
        self.token = make_token(JWT_SECRET, seconds=6 * 3600)
        self.ports: dict[str, int] = {}

    # -- processes ----------------------------------------------------------------------
    def start_possim(self) -> None:
        self.stack.start("possim")
        wait_for_port(self.pos_port, 30, self.stack.processes["possim"])

    def start_web(self, label: str, name: str = "web", **env: str) -> None:
        """Start a gunicorn variant on a port of its own; wait_web() waits for it."""
        self.ports[label] = free_port()
        self.stack.start(name, label=label, PORT=str(self.ports[label]), **env)

    def start_previous(self, path, label: str, db: int) -> None:
        """An earlier main's web (bench/previous.py: its worktree, its packages, its Procfile line),
        on its own database of the same redis-server (0 is ours, 1 the no-op Celery baseline's)
        and the same POS simulator."""
        from bench import previous

        self.ports[label] = free_port()
        other = previous.stack(path, {**self.env, "REDIS_URL": self.broker_url(db)}, str(self.stack.log_dir))
        self.stack.processes[label] = other.start("web", label=label, PORT=str(self.ports[label]))

    def url(self, label: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[label]}{path}"

    def wait_web(self, label: str) -> None:
        wait_for_http(self.url(label, "/healthz"), 90, self.stack.processes[label])

    def start_workers(self, count: int, name: str = "worker", prefix: str = "worker", **env: str) -> list[str]:
        labels = []
        for index in range(1, count + 1):
            label = f"{prefix}{index}"
            self.stack.start(name, label=label, WORKER_NAME=f"{prefix}{index}", **env)
            labels.append(label)
        return labels

    def broker_url(self, db: int = 0) -> str:
        return self.redis_server.url.rsplit("/", 1)[0] + f"/{db}"

    def wait_workers(self, count: int, db: int = 0, timeout: float = 90) -> list[str]:
        """Wait until `count` workers on the broker's database answer a ping; their node names."""
        try:
            return wait_for_workers(self.broker_url(db), count, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (logs in {self.stack.log_dir})") from None

    def stop(self, *labels: str) -> None:
        """SIGTERM to all first (they shut down together), then wait for each."""
        for label in labels:
            self.stack.send(label, signal.SIGTERM)
        for label in labels:
            self.stack.stop(label, timeout=30)
            self.stack.processes.pop(label, None)

    def close(self) -> None:
        self.stack.stop_all()
        self.redis_server.stop()

    # -- what the processes use -----------------------------------------------------------
    def tree(self, label: str) -> list[psutil.Process]:
        """The process a label started and all its children (gunicorn's workers, say)."""
        try:
            root = psutil.Process(self.stack.processes[label].pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self, label: str) -> int:
        total = 0
        for process in self.tree(label):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def cpu(self, label: str) -> float:
        total = 0.0
        for process in self.tree(label):
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def redis_cpu(self) -> float:
        times = psutil.Process(self.redis_server.process.pid).cpu_times()
        return times.user + times.system

    # -- the POS simulator ----------------------------------------------------------------
    def knobs(self, location: str = "*", **fields) -> None:
        self.pos.put(f"{self.pos_url}/_admin/knobs/{location}", json=fields, timeout=10).raise_for_status()

    def reset_pos(self) -> None:
        self.pos.post(f"{self.pos_url}/_admin/reset", timeout=30).raise_for_status()

    def ledger(self) -> list[dict]:
        return self.pos.get(f"{self.pos_url}/_admin/ledger", timeout=30).json()["orders"]
