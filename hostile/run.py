"""Start the real stack (harness/stack.py: redis-server, possim, gunicorn, a Celery worker, Flower),
with `nginx` the shipped front door in front of gunicorn (bin/nginx.py), send the corpus and the
generated requests one at a time, judge every answer, watch RSS."""

from __future__ import annotations

import os
import time
from collections import Counter

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_
from hypothesis import strategies as st

from app.body import BODY_READ_TIMEOUT_SECONDS
from app.signing import key_from_shared_id
from bin.nginx import Nginx
from bin.stack import free_port, wait_for_http, wait_for_port
from harness.stack import LocalStack, Secrets
from hostile import corpus, generated
from hostile.cases import Case, judge
from hostile.wire import Answer

SECRETS = Secrets("hostile-jwt-secret-0123456789abcdef01", "HostileShared-0123456789", "hostile-pos-token")
FLOWER_USER, FLOWER_PASSWORD = "oncall", "hostile-flower-password"
FLOWER_AUTH = f"{FLOWER_USER}:{FLOWER_PASSWORD}"
RSS_GROWTH_MB = 40.0


class Run(LocalStack):
    def __init__(self, tmp_dir: str, nginx: bool = False):
        self.flower_port = free_port()
        super().__init__(
            tmp_dir,
            SECRETS,
            appendonly=False,
            token_hours=4,
            redis_timeout=None,
            env={
                "FLOWER_BASIC_AUTH": FLOWER_AUTH,
                "FLOWER_PORT": self.flower_port,
                "FLOWER_ADDRESS": "127.0.0.1",
                "CALLBACK_ALLOW_PRIVATE": "false",
                "DURABILITY": "none",
                "BEAT_SCHEDULE_FILE": os.path.join(tmp_dir, "beat"),
            },
        )
        self.redis_server.start()
        # with `nginx`: every request goes through deploy/nginx/posbridge.conf (bin/nginx.py)
        self.nginx = Nginx(os.path.join(tmp_dir, "nginx"), free_port(), self.web_port) if nginx else None
        self.port = self.nginx.listen_port if self.nginx else self.web_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.key = key_from_shared_id(SECRETS.shared_id)
        self.findings: list[dict[str, object]] = []
        self.counts: Counter[int | str] = Counter()
        self.slowest = 0.0

    def start(self) -> Run:
        self.start_possim(20)
        self.stack.start("web")
        self.start_worker(1)
        self.stack.start("flower")
        wait_for_http(f"{self.base_url}/healthz", 60, self.stack.processes["web"])
        if self.nginx:
            self.nginx.start()
        self.wait_for_workers(1, 60)
        wait_for_port(self.flower_port, 30, self.stack.processes["flower"])
        for location in ("loc-001", "loc-002", "loc-003"):
            self.http.get(
                f"{self.base}/posnext/menus",
                params={"location_id": location},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
        return self

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        super().stop()

    # -- one request ----------------------------------------------------------------
    def _state(self, case: Case) -> dict:
        pipe = self.redis.pipeline(transaction=False)
        pipe.dbsize()
        pipe.zcard("orders:open")
        if case.uid is not None:
            pipe.exists(f"order:{case.uid}".encode("utf-8", "surrogatepass"))
        values = pipe.execute()
        state = {"dbsize": values[0], "quiet": values[1] == 0}
        if case.uid is not None:
            state["record"] = bool(values[2])
        return state

    def send(self, case: Case) -> None:
        before = self._state(case)
        if case.raw is not None:
            answer = case.raw()
        else:
            started = time.monotonic()
            try:
                r = self.http.request(
                    case.method,
                    self.base + case.path,
                    data=case.body,
                    headers=case.headers,
                    timeout=30,
                    allow_redirects=False,
                )
                answer = Answer(
                    r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content, time.monotonic() - started
                )
            except requests.RequestException as exc:
                answer = Answer(0, {}, b"", time.monotonic() - started, error=type(exc).__name__)
        after = self._state(case)
        self.counts[answer.status] += 1
        if case.raw is None:
            self.slowest = max(self.slowest, answer.seconds)
        for problem in judge(case, answer, before, after):
            self.findings.append(
                {
                    "case": case.name,
                    "path": case.path[:120],
                    "problem": problem,
                    "status": answer.status,
                    "body": answer.body[:300].decode("utf-8", "replace"),
                }
            )

    # -- the parts of a run -----------------------------------------------------------
    def run_corpus(self) -> int:
        cases = corpus.corpus(self.key, self.token, self.port, BODY_READ_TIMEOUT_SECONDS, proxied=bool(self.nginx))
        for case in cases:
            self.send(case)
        return len(cases)

    def run_generated(self, count: int, seed: int) -> int:
        sent = [0]

        @settings(
            max_examples=count,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def one(data):
            self.send(data.draw(generated.cases(self.key, self.token)))
            sent[0] += 1

        seed_(seed)(one)()
        return sent[0]

    def check_flower(self) -> int:
        for path in ("/metrics", "/healthcheck", "/", "/api/workers"):
            r = requests.get(f"http://127.0.0.1:{self.flower_port}{path}", timeout=10, allow_redirects=False)
            self.counts[f"flower {r.status_code}"] += 1
            if r.status_code != 401:
                self.findings.append(
                    {
                        "case": "13 flower without auth",
                        "path": path,
                        "problem": f"HTTP {r.status_code} without credentials",
                        "status": r.status_code,
                    }
                )
        ok = requests.get(
            f"http://127.0.0.1:{self.flower_port}/healthcheck", timeout=10, auth=(FLOWER_USER, FLOWER_PASSWORD)
        )
        if ok.status_code != 200:
            self.findings.append(
                {
                    "case": "13 flower with auth",
                    "path": "/healthcheck",
                    "problem": f"HTTP {ok.status_code} with credentials",
                    "status": ok.status_code,
                }
            )
        return 5

    def web_rss_mb(self) -> float:
        return self.rss("web", children_only=True) / 2**20


def hostile_run(tmp_dir: str, generated_count: int, seed: int, warmup: int, nginx: bool = False) -> dict:
    run = Run(tmp_dir, nginx=nginx).start()
    try:
        started = time.monotonic()
        warm = run.run_generated(warmup, seed + 1) if warmup else 0
        rss_start = run.web_rss_mb()
        sent = run.run_corpus() + run.check_flower() + run.run_generated(generated_count, seed)
        rss_end = run.web_rss_mb()
        if rss_end - rss_start > RSS_GROWTH_MB:
            grew = f"web RSS grew {rss_end - rss_start:.1f} MB ({rss_start:.0f} -> {rss_end:.0f})"
            run.findings.append({"case": "rss", "path": "", "status": 0, "problem": grew})
        return {
            "requests": sent + warm,
            "warmup": warm,
            "seconds": round(time.monotonic() - started, 1),
            "status_counts": {str(k): v for k, v in sorted(run.counts.items(), key=str)},
            "slowest_seconds": round(run.slowest, 3),
            "rss_mb": [round(rss_start, 1), round(rss_end, 1)],
            "findings": run.findings,
        }
    finally:
        run.stop()
