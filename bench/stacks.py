"""The processes a benchmark drives, started the production way: harness/stack.py, bin/stack.py
and the Procfile.

One embedded redis-server and one POS simulator serve every variant; web variants (ours under
gevent or gthread, the bare Flask baseline, the naive peer) each get a port of their own and
the same gunicorn.conf.py; Celery workers are the Procfile's `worker` command line.
"""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

import psutil

from bin.stack import free_port, wait_for_http, wait_for_workers
from harness.stack import LocalStack, Secrets

SECRETS = Secrets("bench-jwt-secret-0123456789abcdef0123", "BenchShared-0123456789", "bench-pos-token")
SHARED_ID = SECRETS.shared_id
GUNICORN = "gunicorn {} --config gunicorn.conf.py"
NOOP_TASK = "bench.noop"  # bench/noop_worker.py


class BenchStack(LocalStack):
    """The service's default settings (not the harnesses' short ones); Redis started at once."""

    def __init__(self) -> None:
        work_dir = tempfile.mkdtemp(prefix="posbridge-bench-")
        super().__init__(work_dir, SECRETS, short=False, token_hours=6, redis_timeout=None)
        self.redis_server.start()
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
        self.ports: dict[str, int] = {}

    # -- processes ----------------------------------------------------------------------
    def start_variant(self, label: str, name: str = "web", **env: str) -> None:
        """Start a gunicorn variant on a port of its own; wait_web() waits for it."""
        self.ports[label] = free_port()
        self.stack.start(name, label=label, PORT=str(self.ports[label]), **env)

    def start_previous(self, path: Path, label: str, db: int) -> None:
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

    def stop_together(self, *labels: str) -> None:
        """SIGTERM to all first (they shut down together), then wait for each."""
        for label in labels:
            self.stack.send(label, signal.SIGTERM)
        for label in labels:
            self.stack.stop(label, timeout=30)
            self.stack.processes.pop(label, None)

    # -- what the processes use -----------------------------------------------------------
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
        assert self.redis_server.process is not None  # started in __init__
        times = psutil.Process(self.redis_server.process.pid).cpu_times()
        return times.user + times.system
