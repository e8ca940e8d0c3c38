"""The stack on nine hosts (network namespaces), every process from the Procfile's commands.

  redis1  Redis primary + Sentinel 1      web1    gunicorn + beat 1
  redis2  Redis replica + Sentinel 2      web2    gunicorn + beat 2
  redis3  Sentinel 3                      worker1 Celery worker (the +30 s clock)
  possim  the POS simulator               worker2 Celery worker (the -30 s clock)
  postgres  PostgreSQL, the archive (cluster/archive.py: ARCHIVE_URL, a few seconds' ARCHIVE_AFTER_SECONDS)

Everything finds the primary through the Sentinels (REDIS_SENTINELS); REDIS_URL's host is
unused. The harness itself (PAR's client, the callback receiver) is on the bridge (.1).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

from app import redis_client as clients
from app.archive import Archive
from app.orders.keys import SCHEDULE_KEY
from app.orders.store import OrderStore
from app.settings import load_settings
from bin.stack import Stack, wait_for_http
from bin.token import make_token
from cluster import archive, celeryping
from cluster.netns import GATEWAY, Host, Net
from cluster.redisgroup import RedisGroup
from harness.possim import PosAdmin
from reliability.archive import Server
from reliability.cluster import JWT_SECRET, POS_TOKEN, stack_env

HOSTS = ["redis1", "redis2", "redis3", "possim", "web1", "web2", "worker1", "worker2"]
HOSTS.append(archive.HOST)  # PostgreSQL, the archive (cluster/archive.py)
WEB_PORT, POS_PORT, REDIS_PORT, SENTINEL_PORT = 8000, 9100, 6379, 26379
SKEW = {"worker1": "+30s", "worker2": "-30s"}


def wait_for_port_on(host: str, port: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not answer within {timeout}s")


class HostStack(Stack):
    def start_on(self, host: Host, name: str, label: str, wrap: tuple[str, ...] = (), **extra_env: str):
        env = {**self.env, **extra_env}
        log = open(self.log_dir / f"{label}.log", "ab")  # noqa: SIM115 - the process owns it
        command = [*host.prefix, *wrap, "bash", "-c", f"exec {self.commands[name]}"]
        process = subprocess.Popen(
            command, cwd=os.getcwd(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[label] = process
        return process


class Topology(PosAdmin):
    def __init__(self, work_dir: str, **overrides: object):
        super().__init__(POS_TOKEN)
        self.work_dir = work_dir
        self.net = Net()
        self.hosts: dict[str, Host] = {}
        self._group: RedisGroup | None = None
        self.archive_server: Server | None = None
        self.overrides = overrides

    @property
    def group(self) -> RedisGroup:
        """The Redis primary, replica and Sentinels (once started)."""
        if self._group is None:
            raise RuntimeError("the cluster's Redis is not started")
        return self._group

    # -- addresses ------------------------------------------------------------------------
    def web_urls(self) -> list[str]:
        return [f"http://{self.hosts[n].ip}:{WEB_PORT}" for n in ("web1", "web2")]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Topology:
        from bin.stack import ROOT

        os.chdir(ROOT)
        self.hosts = self.net.create(HOSTS)
        h = self.hosts
        self.pos_url = f"http://{h['possim'].ip}:{POS_PORT}"
        self.archive_server = server = archive.start(h[archive.HOST])
        self._group = group = RedisGroup(
            os.path.join(self.work_dir, "redis"),
            [(h["redis1"].ip, REDIS_PORT, h["redis1"].prefix), (h["redis2"].ip, REDIS_PORT, h["redis2"].prefix)],
            [(h[n].ip, SENTINEL_PORT, h[n].prefix) for n in ("redis1", "redis2", "redis3")],
        ).start()
        self.env = stack_env(
            f"redis://{h['redis1'].ip}:{REDIS_PORT}/0",
            REDIS_SENTINELS=group.sentinel_list,
            PORT=WEB_PORT,
            WEB_BIND="0.0.0.0",
            POSSIM_HOST=h["possim"].ip,
            POSSIM_PORT=POS_PORT,
            POS_BASE_URL=self.pos_url,
            DURABILITY="replica",
            **archive.settings(h[archive.HOST].ip),
            **self.overrides,
        )
        self.settings = load_settings(self.env)
        self.redis = clients.make_client(self.settings)
        self.archive = Archive(server.url, timeout=5.0)
        self.store = OrderStore(self.redis, archive=self.archive)  # read through, as the service
        self.stack = HostStack(self.env, log_dir=os.path.join(self.work_dir, "logs"))
        self.stack.start_on(h["possim"], "possim", "possim")
        wait_for_port_on(self.hosts["possim"].ip, POS_PORT, 30)
        for name in ("web1", "web2"):
            self.start_web(name)
        for index, name in enumerate(("web1", "web2"), 1):
            self.stack.start_on(
                h[name], "beat", f"beat{index}", BEAT_SCHEDULE_FILE=os.path.join(self.work_dir, f"beat{index}-schedule")
            )
        for name in ("worker1", "worker2"):
            self.start_worker(name)
        self.wait_for_workers(2, 90)
        return self

    def start_web(self, name: str) -> None:
        self.stack.start_on(self.hosts[name], "web", name)
        wait_for_http(f"http://{self.hosts[name].ip}:{WEB_PORT}/healthz", 60, self.stack.processes[name])

    def start_worker(self, name: str, skewed: bool = False) -> None:
        wrap = ("env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", SKEW[name]) if skewed else ()
        self.stack.start_on(self.hosts[name], "worker", name, wrap, WORKER_NAME=name)

    def restart_worker(self, name: str, skewed: bool) -> None:
        self.stack.stop(name, timeout=15)
        self.start_worker(name, skewed)

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        celeryping.wait_for_workers(self.settings, count, timeout)

    def stop(self) -> None:
        try:
            if getattr(self, "stack", None):
                self.stack.stop_all()
            if self._group:
                self._group.stop()
            if self.archive_server:
                self.archive_server.remove()
        finally:
            self.net.remove()

    # -- for PAR's client and the callback receiver ---------------------------------------
    def token(self) -> str:
        return make_token(JWT_SECRET, seconds=24 * 3600)

    def callback_host(self) -> str:
        return GATEWAY

    def settle(self, latest_deadline: float, limit: float = 180) -> None:
        end = time.time() + limit
        read = float(self.env["POS_READ_TIMEOUT"])
        while time.time() < end:
            try:
                if (
                    self.store.indexes.open_count() == 0
                    and time.time() > latest_deadline + read + 1
                    and not self.callbacks_owed()
                ):
                    return
            except Exception:  # noqa: BLE001, S110 - a failover may still be settling
                pass
            time.sleep(0.5)

    def callbacks_owed(self) -> bool:
        """Whether a callback is still to be delivered (or given up on): a `c:` move in the schedule."""
        return any(True for _ in self.redis.zscan_iter(SCHEDULE_KEY, match="c:*", count=1000))

    def log_tail(self, label: str, chars: int = 3000) -> str:
        return self.stack.log(label)[-chars:]
