"""A throwaway stack on this machine: an embedded redis-server and the Procfile's processes
(bin/stack.Stack) in one work directory, the POS simulator's admin calls (harness/possim.py),
and the process faults a harness injects on it (SIGKILL, SIGSTOP, SIGCONT)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

from bin.stack import ROOT, EmbeddedRedis, Stack, free_port, short_env, wait_for_http, wait_for_port, wait_for_workers
from bin.token import make_token
from harness.faults import freeze_group, kill_group, thaw_group
from harness.possim import PosAdmin


@dataclass(frozen=True)
class Secrets:
    """A throwaway stack's own secrets."""

    jwt_secret: str
    shared_id: str
    pos_token: str


class LocalStack(PosAdmin):
    """`short`: bin/stack.short_env's settings, on which deadlines and retries play out within
    seconds, and the web on `web_port`; else the service's defaults and no PORT (each web started
    on a port of its own). `env` wins either way. `redis_timeout`: the harness's own client's
    (its calls must not hang while a fault has Redis away), None for redis-py's default."""

    def __init__(
        self,
        work_dir: str,
        secrets: Secrets,
        appendonly: bool = True,
        short: bool = True,
        root: Path | str = ROOT,
        token_hours: int = 24,
        env: Mapping[str, object] | None = None,
        redis_timeout: float | None = 5,
    ):
        super().__init__(secrets.pos_token)
        self.work_dir = work_dir
        self.secrets = secrets
        self.redis_server = EmbeddedRedis(directory=os.path.join(work_dir, "redis"), appendonly=appendonly)
        self.pos_port, self.web_port = free_port(), free_port()
        self.pos_url = f"http://127.0.0.1:{self.pos_port}"
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        ports = {"PORT": self.web_port} if short else {}
        overrides = {**ports, "POSSIM_PORT": self.pos_port, "POS_BASE_URL": self.pos_url, **(env or {})}
        url, s = self.redis_server.url, secrets
        if short:
            self.env = short_env(url, s.pos_token, s.shared_id, s.jwt_secret, **overrides)
        else:
            plain = {"REDIS_URL": url, "POS_API_TOKEN": s.pos_token, "PAR_SHARED_ID": s.shared_id}
            plain |= {"PAR_JWT_SECRET": s.jwt_secret, "WEB_BIND": "127.0.0.1"}
            self.env = plain | {k: str(v) for k, v in overrides.items()}
        self.stack = Stack(self.env, log_dir=os.path.join(work_dir, "logs"), root=root)
        timeouts = {"socket_timeout": redis_timeout, "socket_connect_timeout": 2} if redis_timeout else {}
        self.redis = redis.Redis.from_url(url, **timeouts)
        self.token = make_token(s.jwt_secret, seconds=token_hours * 3600)

    # -- lifecycle ------------------------------------------------------------------------
    def start_possim(self, timeout: float = 30) -> None:
        self.stack.start("possim")
        wait_for_port(self.pos_port, timeout, self.stack.processes["possim"])

    def start_web(self, timeout: float = 60) -> None:
        self.stack.start("web")
        wait_for_http(f"{self.base_url}/healthz", timeout, self.stack.processes["web"])

    def start_worker(self, index: int) -> None:
        self.stack.start("worker", label=f"worker{index}", WORKER_NAME=str(index))

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        wait_for_workers(self.redis_server.url, count, timeout)

    def stop(self) -> None:
        for label in list(self.stack.processes):
            self.thaw(label)  # a frozen process would not hear SIGTERM
        self.stack.stop_all()
        self.redis_server.stop()

    # -- process faults -------------------------------------------------------------------
    def kill(self, label: str) -> None:
        """SIGKILL a process group (gunicorn master and workers, or one Celery worker)."""
        kill_group(self.stack.processes[label])

    def freeze(self, label: str) -> None:
        freeze_group(self.stack.processes[label])

    def thaw(self, label: str) -> None:
        thaw_group(self.stack.processes[label])

    def stop_process(self, label: str, timeout: float = 10) -> None:
        self.stack.stop(label, timeout=timeout)
        self.stack.processes.pop(label, None)  # stopped on purpose: not one that exited on its own

    def kill_redis(self) -> None:
        """SIGKILL redis-server: no shutdown of its own."""
        self.redis_server.stop(kill=True)

    def stop_redis(self) -> None:
        """A clean stop: redis-server flushes its AOF, so no acknowledged write is lost."""
        self.redis_server.stop()

    def start_redis(self, timeout: float = 30) -> None:
        """The same port and directory: the AOF brings every key back."""
        self.redis_server.start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.redis.ping()
                return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not come back")

    # -- what happened --------------------------------------------------------------------
    def exited(self) -> list[str]:
        """The processes that are not running now (each restart replaces the killed one), with
        the last line of their log that names an error."""
        out = []
        for label, process in self.stack.processes.items():
            if process.poll() is None:
                continue
            tail = self.stack.log(label).splitlines()[-5000:]
            critical = [line for line in tail if '"critical"' in line]
            errors = critical or [line for line in tail if any(w in line for w in ("error", "Error", "exception"))]
            out.append(f"{label} exited with {process.returncode}: {(errors or ['(no error logged)'])[-1][:300]}")
        return out

    def log_tail(self, label: str, chars: int = 3000) -> str:
        return self.stack.log(label)[-chars:]

    def tree(self, label: str) -> list[psutil.Process]:
        """The process a label started and all its children (gunicorn's workers, say)."""
        try:
            root = psutil.Process(self.stack.processes[label].pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self, label: str, children_only: bool = False) -> int:
        total = 0
        for process in self.tree(label)[1 if children_only else 0 :]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total
