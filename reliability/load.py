"""The load: scenarios of orders sent the way PAR sends them, and a journal of every answer.

A submit that gets no answer (the web process was killed) or a 503 (Redis was down) is sent
again with the same payload, as PAR would, until it is answered or the scenario gives up.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from app import jsonio
from bin.sample import encode
from reliability.cluster import SHARED_ID
from reliability.orders import Planned, plan

RESEND_TRIES = 8


@dataclass
class Call:
    uid: str
    kind: str  # submit, resubmit, concurrent, changed, refused, validate, poll
    started: float
    ended: float
    status: int | None  # None: no answer (connection refused or reset, timeout)
    body: dict | None
    digest_ok: bool = True
    digest_present: bool = False
    error: str = ""
    payload: str = "original"  # or "changed": which of the scenario's two bodies was sent
    host: str = ""  # the base URL it went to (the cluster spreads calls over two web hosts)


class Journal:
    """Every scenario and every answer, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.planned: dict[str, Planned] = {}
        self.calls: list[Call] = []

    def add_plan(self, planned: Planned) -> None:
        with self.lock:
            self.planned[planned.uid] = planned

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_for(self, uid: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.uid == uid]


IDLE_REUSE_SECONDS = 4.0  # below the web's keep-alive (5 s)


class Client:
    """PAR's side: signed requests, one requests.Session per thread."""

    def __init__(self, base_url: str, token: str, journal: Journal):
        self.base_url = base_url
        self.token = token
        self.journal = journal
        self.local = threading.local()

    def session(self) -> requests.Session:
        """This thread's session, its pooled connection dropped once idle near the web's keep-alive
        (gunicorn.conf.py's 5 s): a request sent as the server closes an idle connection is lost
        in transit (the HTTP/1.1 keep-alive race; seen once in 22,581 requests), which says nothing
        about the service. A client should not reuse a connection past the server's keep-alive."""
        now = time.monotonic()
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        elif now - self.local.used > IDLE_REUSE_SECONDS:
            self.local.session.close()
        self.local.used = now
        return self.local.session

    def send(self, planned: Planned, body: dict, kind: str, bad: str = "") -> Call:
        data, headers = encode(body, SHARED_ID, self.token)
        if bad == "digest":
            headers["x-pch-digest"] = "0" * 64
        started, base = time.time(), self.base_url
        call = Call(
            planned.uid,
            kind,
            started,
            started,
            None,
            None,
            payload="changed" if body is planned.changed else "original",
            host=base,
        )
        return self.journalled(
            call, lambda: self.session().post(base + planned.path, data=data, headers=headers, timeout=30)
        )

    def journalled(self, call: Call, post: Callable[[], requests.Response]) -> Call:
        """Make the POST, record its answer (status, body, signature) in `call`, journal it."""
        from app import signing
        from app.signing import key_from_shared_id

        try:
            response = post()
        except requests.RequestException as exc:
            call.error = type(exc).__name__
            self.session().close()
        else:
            call.status = response.status_code
            try:
                call.body = jsonio.loads(response.content)
            except jsonio.BadJson:
                call.error = "answer is not JSON"
            call.digest_present = "x-pch-digest" in response.headers
            if isinstance(call.body, dict):
                call.digest_ok = signing.verify(
                    key_from_shared_id(SHARED_ID), call.body, response.headers.get("x-pch-digest")
                )
        call.ended = time.time()
        self.journal.add(call)
        return call

    def poll(self, uid: str) -> Call:
        started, base = time.time(), self.base_url
        call = Call(uid, "poll", started, started, None, None, host=base)
        try:
            response = self.session().get(
                f"{base}/posnext/orders/{uid}", timeout=30, headers={"Authorization": f"Bearer {self.token}"}
            )
            call.status = response.status_code
            call.body = jsonio.loads(response.content)
        except (requests.RequestException, jsonio.BadJson) as exc:
            call.error = type(exc).__name__
        call.ended = time.time()
        self.journal.add(call)
        return call


def answered(call: Call) -> bool:
    """A definite answer: anything but no answer at all and a 503 (retry later)."""
    return call.status is not None and call.status != 503


class Scenarios:
    def __init__(self, client: Client, rng_seed: int):
        self.client = client
        self.seed = rng_seed

    def resend(self, planned: Planned, body: dict, kind: str, rng: random.Random) -> Call:
        """Send until answered, as PAR retries an order it got no answer for."""
        call = self.client.send(planned, body, kind, planned.bad)
        for _ in range(RESEND_TRIES):
            if answered(call):
                break
            time.sleep(rng.uniform(0.5, 1.5))
            call = self.client.send(planned, body, kind, planned.bad)
        return call

    def together(self, planned: Planned, bodies: list[dict], kind: str) -> list[Call]:
        """The same request_uid from several threads at once."""
        barrier = threading.Barrier(len(bodies))
        calls: list[Call | None] = [None] * len(bodies)

        def one(index: int) -> None:
            barrier.wait(5)
            calls[index] = self.client.send(planned, bodies[index], kind)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [c for c in calls if c is not None]

    def run(self, planned: Planned) -> None:
        from reliability import cancels  # it imports this module

        rng = random.Random(f"{self.seed}-{planned.uid}")
        kind = planned.kind
        if kind == cancels.KIND:
            cancels.run(self, planned, rng)
            return
        if kind == "concurrent":
            self.together(planned, [planned.body] * 3, "concurrent")
            self.resend(planned, planned.body, "resubmit", rng)
        elif kind == "race_changed":
            assert planned.changed is not None  # a changed scenario has its second payload
            self.together(planned, [planned.body, planned.changed], "concurrent")
        else:
            first = self.resend(planned, planned.body, "submit", rng)
            accepted = first.status in (200, 202)
            if kind == "resubmit" and accepted:
                time.sleep(rng.uniform(0, 1.5))
                self.resend(planned, planned.body, "resubmit", rng)
                self.together(planned, [planned.body] * 2, "concurrent")
            elif kind == "changed" and accepted:
                assert planned.changed is not None
                self.resend(planned, planned.changed, "changed", rng)
        if planned.expect == "accepted" and rng.random() < 0.3:
            time.sleep(rng.uniform(0.5, 3))
            self.client.poll(planned.uid)


def drive(
    scenarios: Scenarios,
    journal: Journal,
    callback_base: str,
    seconds: float,
    rate: float,
    seed: int,
    threads: int = 48,
    orders: int | None = None,
) -> int:
    """Start scenarios at `rate` per second for `seconds` (or, given `orders`, until that many
    scenarios that submit an order have started); wait for them all. Returns the count."""
    from reliability import cancels  # it imports this module

    rng = random.Random(seed)
    started = time.monotonic()
    count = submitted = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="load") as pool:
        futures = []
        while (submitted < orders) if orders is not None else (time.monotonic() - started < seconds):
            planned = cancels.plan(rng, callback_base) or plan(rng, callback_base)
            submitted += planned.expect in ("accepted", "rejected")
            journal.add_plan(planned)
            futures.append(pool.submit(scenarios.run, planned))
            count += 1
            next_at = started + count / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        for future in futures:
            future.result()
    return count
