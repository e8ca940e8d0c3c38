"""Faults injected while the load runs, on two tracks at once.

Process track: SIGKILL of Celery workers (restarted), SIGKILL of the whole web process
(gunicorn master and workers, restarted), a clean stop and restart of redis-server (same port
and directory: the AOF keeps the data), the web process frozen (SIGSTOP) past any claim it
holds and then let go (SIGCONT), redis-server SIGKILLed right after a final answer and
restarted on its AOF, one of the two beats SIGKILLed (restarted later), and a third worker
whose clock runs 30 s ahead or behind (libfaketime) for a while, and the web SIGKILLed while a
submit with a callback_url has its POST at the POS, then that body resubmitted (kill_web_at_pos).
POS track: the simulator's knobs: down, error rate, ambiguous errors (created, then 500), hangs,
slowdowns above and below the inline budget and beyond connect + read timeout, refusals (an
item the cached menu still offers, or the location closed), and, at a location whose POS
ignores not_after (reliability.cluster.LATE_LOCATIONS), latency past the deadlines, every
second time with voids refused (pos_late).

Every fault is recorded as a window (harness/faults.py), so the checks know when a 503 or an
unanswered request was to be expected.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from harness.faults import Tracks
from reliability import archive
from reliability.cluster import BEATS, LATE_LOCATIONS, LOCATIONS, Cluster
from reliability.orders import FINAL, with_callback

if TYPE_CHECKING:
    from reliability.load import Journal, Scenarios

log = logging.getLogger("reliability")
PROCESS_KINDS: tuple[str, ...] = (
    "kill_worker",
    "kill_web",
    "restart_redis",
    "freeze_web",
    "kill_redis_after_final",
    "kill_beat",
    "skewed_worker",
    "kill_web_at_pos",
)
PROCESS_KINDS += archive.KINDS  # the mover's worker and PostgreSQL SIGKILLed (reliability/archive.py)
POS_KINDS = (
    "pos_down",
    "pos_errors",
    "pos_ambiguous",
    "pos_hang",
    "slow_above_budget",
    "slow_below_budget",
    "pos_refuses",
    "slow_beyond_read",
    "pos_late",
)
REDIS_DOWN = ("restart_redis", "kill_redis_after_final")  # the kinds during which Redis is away
WEB_AWAY = ("kill_web", "freeze_web", "kill_web_at_pos")  # the kinds during which the web process cannot answer
# after a host's link comes back, a keep-alive connection its web closed during the cut (the FIN
# lost) is reset when the client reuses it, until the FIN's retransmission (exponential backoff,
# so at most about one cut-length later) tells the client: those calls, to that host, no answer
STALE_CONNECTIONS = "stale_connections"
# a web host whose link goes down while it serves a request: its Redis calls time out, and it
# answers 503 once the link is back (to that host Redis was away); calls in flight at the cut, to that host
WEB_CUT_OFF = "web_cut_off"
# a 503 is the honest answer while Redis is away, and from a web process frozen past its Redis
# socket timeout (thawed, its calls time out at once: to it, Redis was away)
UNAVAILABLE = (*REDIS_DOWN, "freeze_web", *archive.AWAY)  # archive.AWAY: a submit or an archived order's poll
SKEW_SECONDS = 30
AT_POS_MS = 6000  # kill_web_at_pos: the POS holds the submit's POST this long: still pending at the resubmit


class Injector(Tracks):
    def __init__(
        self,
        cluster: Cluster,
        seed: int,
        budget_ms: int,
        short: bool = False,
        journal: Journal | None = None,
        scenarios: Scenarios | None = None,
        callback_base: str = "",
    ):
        # --short: one round of every kind fits in its load
        super().__init__(random.Random(f"faults-{seed}"), scale=0.5 if short else 1.0)
        self.cluster = cluster
        self.journal = journal  # kill_redis_after_final watches it for a final answer
        self.scenarios = scenarios  # kill_web_at_pos submits through it
        self.callback_base = callback_base
        self.pos_lock = threading.Lock()  # one writer of the POS knobs at a time (each clears what it set)
        self.late_runs = 0  # pos_late faults so far
        self.budget_ms = budget_ms
        self.track("process", PROCESS_KINDS, self._process, (2.0, 6.0))
        self.track("pos", POS_KINDS, self._pos, (0.5, 2.0))

    # -- the process track ---------------------------------------------------------------
    def _process(self, kind: str) -> str:
        cluster = self.cluster
        if kind in archive.KINDS:
            return archive.inject(cluster, kind, self.rng, self.scale)
        if kind == "kill_worker":
            count = 2 if self.rng.random() < 0.25 else 1
            labels = self.rng.sample(range(1, cluster.workers + 1), min(count, cluster.workers))
            for index in labels:
                cluster.kill(f"worker{index}")
            time.sleep(self.rng.uniform(0.5, 2.0))
            for index in labels:
                cluster.start_worker(index)
            cluster.wait_for_workers(cluster.workers)
            return f"SIGKILL worker{','.join(map(str, labels))}"
        if kind == "kill_web_at_pos":
            return self._kill_web_at_pos()
        if kind == "kill_web":
            cluster.kill("web")
            time.sleep(self.rng.uniform(0.3, 1.5))
            cluster.start_web()
            return "SIGKILL gunicorn (master and workers)"
        if kind == "freeze_web":
            return self._freeze_web()
        if kind == "kill_redis_after_final":
            return self._kill_redis_after_final()
        if kind == "kill_beat":
            index = self.rng.choice(BEATS)
            cluster.kill(f"beat{index}")
            time.sleep(self.rng.uniform(2.0, 5.0))
            cluster.start_beat(index)
            return f"SIGKILL beat{index} (the other beat runs on), restarted"
        if kind == "skewed_worker":
            offset = self.rng.choice((SKEW_SECONDS, -SKEW_SECONDS))
            lasting = self.rng.uniform(8.0, 15.0) * self.scale
            cluster.start_skewed_worker("skewed", offset)
            try:
                time.sleep(lasting)
            finally:
                cluster.stop_process("skewed")
            return f"a third worker with its clock {offset:+d}s off for {lasting:.1f}s"
        down = self.rng.uniform(1.0, 4.0)
        cluster.stop_redis()
        time.sleep(down)
        cluster.start_redis()
        return f"redis-server stopped {down:.1f}s"

    def _freeze_web(self) -> str:
        """SIGSTOP gunicorn (master and workers) for longer than any claim it holds (connect +
        read timeout + 2 s, the old lease, and more), then SIGCONT: it wakes past deadlines."""
        settings = self.cluster.settings
        claim = float(settings["POS_CONNECT_TIMEOUT"]) + float(settings["POS_READ_TIMEOUT"]) + 2
        frozen = claim + self.rng.uniform(1.0, 4.0)
        self.cluster.freeze("web")
        try:
            time.sleep(frozen)
        finally:
            self.cluster.thaw("web")
        return f"SIGSTOP gunicorn {frozen:.1f}s, then SIGCONT"

    def _kill_redis_after_final(self) -> str:
        """SIGKILL redis-server the moment the load gets a final answer (200), restart it on
        its AOF: the answered final must still be there."""
        seen = "at a random moment (no journal)"
        if self.journal is not None:
            since = time.time()
            end = since + 10
            while time.time() < end:
                with self.journal.lock:
                    hit = next(
                        (
                            c
                            for c in reversed(self.journal.calls[-50:])
                            if c.ended >= since
                            and c.status == 200
                            and isinstance(c.body, dict)
                            and c.body.get("status") in FINAL
                        ),
                        None,
                    )
                if hit is not None:
                    late_ms = (time.time() - hit.ended) * 1000
                    seen = f"{late_ms:.0f} ms after {hit.uid} was answered {(hit.body or {})['status']}"
                    break
                time.sleep(0.002)
            else:
                seen = "after 10 s without a final answer"
        self.cluster.kill_redis()
        down = self.rng.uniform(0.5, 2.0)
        time.sleep(down)
        self.cluster.start_redis()
        return f"SIGKILL redis-server {seen}; restarted on its AOF after {down:.1f}s"

    def _kill_web_at_pos(self) -> str:
        """PAR submits an order with a callback_url; its location's POS holds the POST (AT_POS_MS)
        and the web is SIGKILLed once the POS has it; restarted, PAR resubmits the same body
        until answered. Every 202 it got owes the callback (check_callbacks)."""
        if self.scenarios is None or self.journal is None:
            raise RuntimeError("kill_web_at_pos needs the load's scenarios and journal")
        rng = random.Random(self.rng.random())
        planned = with_callback(rng, self.callback_base, "web_kill", "ok")
        self.journal.add_plan(planned)
        location = planned.body["location_id"]
        client = self.scenarios.client
        with self.pos_lock:
            self.cluster.knobs(location, latency_ms=AT_POS_MS)
            try:
                first = threading.Thread(target=client.send, args=(planned, planned.body, "submit"), daemon=True)
                first.start()
                seen = self._post_seen(planned.uid, 5.0)
                self.cluster.kill("web")
            finally:
                self.cluster.knobs(location, latency_ms=None)
        first.join(30)
        time.sleep(rng.uniform(0.3, 1.0))
        self.cluster.start_web()
        again = self.scenarios.resend(planned, planned.body, "resubmit", rng)
        where = "with its POST at the POS" if seen else "before its POST was seen at the POS"
        return f"SIGKILL gunicorn {where} ({planned.uid}); restarted, resubmitted: {again.status}"

    def _post_seen(self, uid: str, seconds: float) -> bool:
        end = time.time() + seconds
        while time.time() < end:
            if self.cluster.pos_calls(uid).get("posts", 0) > 0:
                return True
            time.sleep(0.02)
        return False

    # -- the POS track -------------------------------------------------------------------
    def _pos(self, kind: str) -> str:
        rng, cluster = self.rng, self.cluster
        where = rng.choice(("*", *LOCATIONS))
        knobs: dict[str, Any] = {}
        if kind == "pos_down":
            knobs = {"down": True}
        elif kind == "pos_errors":
            knobs = {"error_rate": rng.choice((0.3, 0.6, 1.0)), "error_status": rng.choice((500, 503, 429))}
        elif kind == "pos_ambiguous":
            knobs = {"ambiguous_error_rate": rng.choice((0.3, 0.6))}
        elif kind == "pos_hang":
            knobs = {"hang_seconds": rng.uniform(1.0, 5.0)}
        elif kind == "slow_above_budget":
            knobs = {"latency_ms": self.budget_ms + rng.randint(200, 2500), "latency_jitter_ms": 300}
        elif kind == "slow_beyond_read":
            beyond = float(cluster.settings["POS_CONNECT_TIMEOUT"]) + float(cluster.settings["POS_READ_TIMEOUT"])
            knobs = {"latency_ms": int(beyond * 1000) + rng.randint(500, 3000)}
        elif kind == "slow_below_budget":
            knobs = {"latency_ms": rng.randint(50, self.budget_ms // 2), "latency_jitter_ms": 100}
        elif kind == "pos_late":
            return self._pos_late()
        else:
            knobs = rng.choice(({"items": {"item-003": False}}, {"accepting_orders": False}))
        lasting = rng.uniform(2.0, 6.0) * self.scale
        with self.pos_lock:
            cluster.knobs(where, **knobs)
            try:
                time.sleep(lasting)
            finally:
                cluster.knobs(where, **dict.fromkeys(knobs))
        return f"{where} {knobs} for {lasting:.1f}s"

    def _pos_late(self) -> str:
        """Latency past the deadline of a ttl 4-6 order at a location whose POS ignores not_after
        (4.5-7 s: never past RECONCILE_SECONDS, 8 s, after the deadline, when the engine looks no
        longer, by design). Every second time the POS refuses voids (void_window_ms 0) from the
        start until every late placement the slowdown made has been looked up: the latency again,
        plus the longest backoff between lookups (RETRY_CAP_SECONDS)."""
        rng, cluster = self.rng, self.cluster
        where = rng.choice(LATE_LOCATIONS)
        latency = rng.randint(4500, 7000)
        self.late_runs += 1
        refuse = self.late_runs % 2 == 0  # voided, then refused: both in a --short run (two rounds)
        lasting = rng.uniform(2.0, 6.0) * self.scale
        with self.pos_lock:
            cluster.knobs(where, latency_ms=latency, **({"void_window_ms": 0} if refuse else {}))
            try:
                time.sleep(lasting)
                cluster.knobs(where, latency_ms=None)
                if refuse:
                    time.sleep(latency / 1000 + float(cluster.settings["RETRY_CAP_SECONDS"]))
            finally:
                cluster.knobs(where, latency_ms=None, void_window_ms=None)
        refused = ", voids refused until its late placements were looked up" if refuse else ""
        return f"{where} latency {latency} ms for {lasting:.1f}s{refused}"
