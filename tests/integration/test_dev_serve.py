"""The README's run command (`./dev serve` runs `python -m bin.run`) with no REDIS_URL: the six
Procfile processes on an embedded redis-server, an order placed through them, Flower and the order
console behind basic auth, and everything gone after SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import redis
import requests
from celery import Celery

from bin.stack import ROOT, free_port
from tests.support.factories import encode, sample_order
from tests.support.serve import UNSET, read_until


def commands(process: psutil.Process) -> list[str]:
    return [" ".join(child.cmdline()) for child in process.children(recursive=True) if child.is_running()]


def test_the_run_command_brings_up_the_whole_service_and_stops_it(tmp_path):
    ports = {name: free_port() for name in ("PORT", "POSSIM_PORT", "FLOWER_PORT", "CONSOLE_PORT", "REDIS_PORT")}
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        {k: str(v) for k, v in ports.items()},
        POSBRIDGE_VAR_DIR=str(tmp_path),
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="10",
        ARCHIVE_AFTER_SECONDS="2",
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "bin.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, run.stdout), lines.put(None)], daemon=True).start()
    seen: list[str] = []
    children: list[psutil.Process] = []
    try:
        read_until(lines, "a JWT for trying it:", 120, seen)
        banner = "".join(seen)
        redis_url = f"redis://127.0.0.1:{ports['REDIS_PORT']}/0"
        assert f"{redis_url} (embedded, AOF in {tmp_path / 'redis'})" in banner
        aof = tmp_path / "redis"
        assert (aof / "appendonly.aof").exists() or (aof / "appendonlydir").is_dir()  # redis-server 6 / 7
        token = re.search(r"a JWT for trying it: (\S+)", banner).group(1)
        user, password = re.search(r"user:password ([^:\s]+):(\S+)\)", banner).groups()
        # issue 23, finding 5: this checkout's own random secrets, kept under var/ and printed; the API on loopback
        shared_id = re.search(r"PAR_SHARED_ID=(\S+)", banner).group(1)
        kept = (tmp_path / "dev-secrets.env").read_text()
        assert f"PAR_SHARED_ID='{shared_id}'" in kept and (tmp_path / "dev-secrets.env").stat().st_mode & 0o077 == 0
        assert not {"dev-pos-token", "devshared0123456789", "dev-jwt-secret-change-me-0123456789"} & set(
            re.findall(r"='([^']*)'", kept)
        )
        assert f"API          http://127.0.0.1:{ports['PORT']}" in banner

        children = psutil.Process(run.pid).children(recursive=True)
        running = commands(psutil.Process(run.pid))
        # with setproctitle installed (a dev dependency brings it), gunicorn and celery retitle their
        # processes ("gunicorn: master [app.wsgi:application]", "[celeryd: …] -active- (-A workers
        # worker …)", "gunicorn: master [posbridge-console]"): either form of each is accepted
        for needles in (
            ("app.wsgi:application",),
            ("-A workers worker",),
            ("-A workers beat",),
            ("-m workers.flower",),
            ("-m possim",),
            ("-m app.console", "[posbridge-console]"),
        ):
            assert any(needle in command for needle in needles for command in running), (needles, running)

        api = f"http://127.0.0.1:{ports['PORT']}"
        assert requests.get(f"{api}/readyz", timeout=10).status_code == 200
        assert _web_on_loopback(run.pid, ports["PORT"])
        data, headers = encode(sample_order(), shared_id, token)
        answer = requests.post(f"{api}/posnext/order/submit", data=data, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "placed"
        # the embedded archive (a SQLite file in var/): beat's mover takes the final order out of
        # Redis within seconds (ARCHIVE_AFTER_SECONDS=2), and the web reads it through, unchanged
        store = redis.Redis.from_url(redis_url)
        uid = answer.json()["request_uid"]
        end = time.monotonic() + 30
        while store.exists(f"order:{uid}") and time.monotonic() < end:
            time.sleep(0.5)
        assert not store.exists(f"order:{uid}"), "the mover did not move the final order"
        assert (tmp_path / "archive.sqlite3").exists() and f"sqlite:///{tmp_path / 'archive.sqlite3'}" in banner
        polled = requests.get(
            f"{api}/posnext/orders/{uid}", headers={"Authorization": headers["Authorization"]}, timeout=10
        )
        assert polled.status_code == 200 and polled.json() == answer.json()

        broker = Celery(broker=redis_url)
        try:
            assert broker.control.ping(timeout=2), "no Celery worker answered a ping"
        finally:
            broker.close()

        flower = f"http://127.0.0.1:{ports['FLOWER_PORT']}"
        assert requests.get(f"{flower}/api/tasks", timeout=10).status_code == 401
        assert requests.get(f"{flower}/api/tasks", auth=(user, "wrong"), timeout=10).status_code == 401
        assert requests.get(f"{flower}/api/tasks", auth=(user, password), timeout=10).status_code == 200
        console = f"http://127.0.0.1:{ports['CONSOLE_PORT']}"  # the order console: the banner's line, Flower's login
        assert f"console      {console}" in banner
        assert requests.get(f"{console}/", timeout=10).status_code == 401
        assert requests.get(f"{console}/", auth=(user, password), timeout=10).status_code == 200
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(90)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, "".join(seen)[-4000:]
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [p.pid for p in alive]


def _web_on_loopback(pid: int, port: int) -> bool:
    """Whether whatever listens on the API's port listens on 127.0.0.1 only."""
    listening = [
        c
        for p in psutil.Process(pid).children(recursive=True)
        for c in p.net_connections()
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    return bool(listening) and all(c.laddr.ip == "127.0.0.1" for c in listening)
