"""Bad input: schemathesis against the served OpenAPI document (/openapi.json).

Every operation of the document gets generated requests, half that fit the schema and half
that break it. Most carry a valid JWT and a valid x-pch-digest over the generated body (so
the generated orders get past authentication into the schemas, the rules and the store); some
carry none, or a wrong one. The checks: no answer is a 5xx, every request is answered, and
no order record was created by a request that was not answered 2xx.
"""

from __future__ import annotations

import time
from typing import cast

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.reporting import with_reporter
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from app import signing
from harness.report import Check
from reliability.cluster import Cluster

WEIGHTS = {"/posnext/order": 4, "/posnext/orders": 3, "/posnext/menus": 2}  # by path prefix; others 1
CHUNK = 400


def _weight(path: str) -> int:
    return next((w for prefix, w in WEIGHTS.items() if path.startswith(prefix)), 1)


class Fuzzer:
    def __init__(self, cluster: Cluster, seed: int):
        self.cluster = cluster
        self.seed = seed
        self.session = requests.Session()
        self.key = signing.key_from_shared_id(cluster.env["PAR_SHARED_ID"])
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.five: list[str] = []
        self.crashes: list[str] = []
        self.answered_2xx: set[str] = set()

    def headers(self, case, choice: int) -> dict[str, str]:
        """Mostly PAR's headers (JWT, digest over the generated body); one in ten without or wrong."""
        headers = {}
        if choice % 10 != 0:
            headers["Authorization"] = f"Bearer {self.cluster.token}"
        elif choice % 20 == 0:
            headers["Authorization"] = "Bearer not-a-jwt"
        body = getattr(case, "body", None)
        if isinstance(body, dict) and choice % 10 != 1:
            try:
                headers["x-pch-digest"] = signing.sign(self.key, body)
            except Exception as exc:  # noqa: BLE001 - signing any body must never raise
                self.crashes.append(f"signing.sign raised {type(exc).__name__} on a generated body")
        return headers

    def send(self, case) -> None:
        self.sent += 1
        where = f"{case.method} {case.path}"
        try:
            response = case.call(
                base_url=self.cluster.base_url, session=self.session, headers=self.headers(case, self.sent), timeout=30
            )
        except Exception as exc:  # noqa: BLE001 - no answer at all is a crash of the service
            self.crashes.append(f"{where}: no answer ({type(exc).__name__})")
            self.session = requests.Session()
            return
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.five.append(f"{where}: HTTP {status} for body {str(getattr(case, 'body', None))[:200]}")
        body = getattr(case, "body", None)
        if 200 <= status < 300 and isinstance(body, dict) and isinstance(body.get("request_uid"), str):
            self.answered_2xx.add(body["request_uid"])

    def run_operation(self, operation, mode: GenerationMode, examples: int) -> bool:
        """Up to `examples` requests; False when the operation has no (more) inputs in this mode."""
        before = self.sent

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=False,
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case):
            self.send(case)

        try:
            with with_reporter(lambda _message: None):  # hypothesis' notes are not our report
                one()
        except Unsatisfiable:  # e.g. an operation without parameters has no negative inputs
            return False
        return self.sent > before


def run(cluster: Cluster, count: int, seed: int) -> list[Check]:
    fuzzer = Fuzzer(cluster, seed)
    started = time.time()
    schema = schemathesis.openapi.from_url(f"{cluster.base_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the served document gets wrong
        operations.append(result.ok())
    weights = {op.label: _weight(op.path) for op in operations}
    total = sum(weights.values())
    live = [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    while fuzzer.sent < count and live:
        for operation, mode in list(live):
            share = max(1, CHUNK * weights[operation.label] // total)
            if fuzzer.sent < count and not fuzzer.run_operation(operation, mode, share):
                live.remove((operation, mode))
    return checks(fuzzer, cluster, started, len(operations))


def checks(fuzzer: Fuzzer, cluster: Cluster, started: float, operations: int) -> list[Check]:
    five = Check(
        f"schemathesis: no 5xx ({operations} operations, answers {dict(sorted(fuzzer.statuses.items()))})",
        checked=fuzzer.sent,
        violations=list(fuzzer.five),
    )
    crashes = Check(
        "schemathesis: every generated request answered", checked=fuzzer.sent, violations=list(fuzzer.crashes)
    )
    made = [u.decode() for u in cast(list[bytes], cluster.redis.zrangebyscore("orders:by_time", started, "+inf"))]
    state = Check("schemathesis: no record created by a request refused with a 4xx", checked=len(made))
    for uid in made:
        if uid not in fuzzer.answered_2xx:
            state.fail(f"{uid!r}: recorded, but no submit of it was answered 2xx")
    return [five, crashes, state]
