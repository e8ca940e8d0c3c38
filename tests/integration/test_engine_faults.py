"""Issue 10's findings that need real processes, one test each, written findings-first.

Each test starts its own stack (tests/support/live.py: redis-server, possim, gunicorn, a
Celery worker, beat, all from the Procfile) with the settings it needs, and judges the engine
only by what it shows outside: the HTTP API, the `status` field of `order:{uid}` in Redis
(README), the simulator's ledger (created_at, not_after, calls per external_id) and the
settings of notes/engine-contract.md (RECONCILE_SECONDS, CLOCK_SKEW_SECONDS, ...).
Deadlines are computed from what the test sent: request_datetime + ttl, else the arrival
(at the latest, the moment the submit was answered) + ORDER_MAX_ASYNC_SECONDS.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from bin.stack import ROOT, wait_for_http
from reliability.bounds import pos_call_bound, reconcile_slack
from tests.support.engine_faults import (
    FINAL,
    brief,
    codes,
    epoch,
    first_post_seen,
    late_creations,
    state_by,
    status_in_redis,
    submit_in_background,
)
from tests.support.factories import sample_order
from tests.support.live import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.engine_v2, pytest.mark.timeout(120)]


def test_a_pos_slower_than_the_read_timeout_creates_no_order_after_the_deadline(stacks):
    """Issue 10, finding 1."""
    live = stacks(POS_CONNECT_TIMEOUT="1", POS_READ_TIMEOUT="2", INLINE_BUDGET_MS="800", RECONCILE_SECONDS="5")
    live.warm_menu()
    live.knobs("loc-001", latency_ms=6000)  # every POST lands 6 s after it reaches the POS: > connect + read
    body = sample_order(ttl=4)
    uid, deadline = body["request_uid"], epoch(body["request_datetime"]) + 4
    assert live.submit(body).status_code in (200, 202)
    # every POST sent before the deadline has slept its 6 s at the POS by then
    status, answer = state_by(live, uid, deadline + 6 + 1.5)
    time.sleep(max(0.0, deadline + 6 + 1.5 - time.time()))
    assert late_creations(live, uid, deadline) == [], f"final {brief(answer)}"
    assert live.ledger(uid) == []  # none could land before the deadline: 6 s latency, 4 s ttl
    assert status == "errored" and "deadline_exceeded" in codes(answer), brief(answer)


def test_a_web_process_frozen_past_its_claim_creates_no_order_after_the_deadline(stacks):
    """Issue 10, finding 2."""
    # The web's POST reaches the POS, which takes 3.5 s (inside connect + read timeout) to
    # create the order; the web is frozen (SIGSTOP) the moment its POST is seen and stays so
    # until well past the deadline. To the POS, a POST held by a frozen sender and one held
    # in flight are the same thing: only not_after can stop the late creation.
    live = stacks(POS_CONNECT_TIMEOUT="1", POS_READ_TIMEOUT="3", INLINE_BUDGET_MS="800", RECONCILE_SECONDS="5")
    live.warm_menu()
    live.knobs("loc-001", latency_ms=3500)
    body = sample_order(ttl=3)
    uid, deadline = body["request_uid"], epoch(body["request_datetime"]) + 3
    thread, answers = submit_in_background(live, body)
    first_post_seen(live, uid)
    live.freeze("web")
    try:
        # its claim lapses while it is frozen: the order is decided without it (Redis, not HTTP:
        # the web cannot answer)
        frozen_until = deadline + 7
        wait_until(lambda: status_in_redis(live, uid) in FINAL or time.time() > frozen_until, 15, 0.1, "final")
        decided_while_frozen = status_in_redis(live, uid)
        time.sleep(max(0.0, frozen_until - time.time()))
    finally:
        live.thaw("web")
    thread.join(60)
    status, answer = state_by(live, uid, time.time() + 15)
    assert late_creations(live, uid, deadline) == [], f"final {brief(answer)}"
    placed = [e["pos_order_id"] for e in live.ledger(uid)]
    assert (status == "placed") == bool(placed), f"{status} but the POS has {placed}"
    if answers and not isinstance(answers[0], Exception) and answers[0].status_code == 200:
        assert answers[0].json()["status"] == status  # what the thawed web answered is the record
    assert decided_while_frozen in FINAL, (
        f"still {decided_while_frozen} {frozen_until - deadline:.0f}s past the deadline with the web frozen"
    )


def test_a_final_answered_survives_redis_killed_right_after_it(stacks):
    """Issue 10, finding 7."""
    live = stacks(redis_aof=True)
    live.warm_menu()
    waitaof = []
    for _ in range(3):
        body = sample_order()
        uid = body["request_uid"]
        answer = live.submit(body)
        assert answer.status_code == 200 and answer.json()["status"] == "placed", answer.text
        waitaof.append(live.redis.info("commandstats").get("cmdstat_waitaof", {}).get("calls", 0))
        live.kill_redis()  # SIGKILL, at once after the final answer
        live.restart_redis()  # the same directory: it loads its AOF
        assert status_in_redis(live, uid) == "placed"
        wait_until(lambda u=uid: live.get_order(u).status_code == 200, 30, 0.2, "the web answering again")
        assert live.get_order(uid).json()["status"] == "placed"
        again = live.submit(body)
        assert (
            again.status_code == 200
            and again.json()["order_details"]["pos_order_id"] == answer.json()["order_details"]["pos_order_id"]
        )
        assert len(live.ledger(uid)) == 1
    # A SIGKILL loses nothing redis-server has written to the kernel; a power cut loses what
    # was not fsynced. Under the contract's default DURABILITY=fsync the answered final
    # survives that too only if it was fsynced before the answer: appendfsync always, or a
    # WAITAOF before each final answer (issue 10, item 7).
    fsync = live.redis.config_get("appendfsync")["appendfsync"]
    assert fsync == "always" or all(waitaof), f"appendfsync {fsync}, WAITAOF calls before each answer {waitaof}"


def web_killed_mid_submit(live, ttl: int = 12) -> tuple[str, float]:
    """An order whose web process is SIGKILLed while its POST is at the POS (2.5 s latency);
    the web restarted. Returns (uid, deadline)."""
    live.knobs("loc-001", latency_ms=2500)
    body = sample_order(ttl=ttl)
    uid, deadline = body["request_uid"], epoch(body["request_datetime"]) + ttl
    submit_in_background(live, body)
    first_post_seen(live, uid)
    live.kill("web")
    live.stack.start("web")
    wait_for_http(f"{live.base_url}/healthz", 60, live.stack.processes["web"])
    live.knobs("loc-001", latency_ms=None)
    return uid, deadline


def test_two_beats_one_killed_the_sweep_goes_on(stacks):
    """Issue 10, finding 10."""
    # The first beat (with a lock in Redis, the holder) is SIGKILLed: its lock is not released,
    # so the other must take over within about 20 s (the order's deadline and slack) for the
    # killed submit to be recovered, and the sweep gauge must move past the kill.
    live = stacks(RECONCILE_SECONDS="5")
    live.warm_menu()
    live.start_beat("beat2")
    time.sleep(3)
    live.kill("beat")  # SIGKILL one of the two
    killed_at = time.time()
    assert live.stack.processes["beat2"].poll() is None, live.stack.log("beat2")[-2000:]
    uid, deadline = web_killed_mid_submit(live)
    status, answer = state_by(live, uid, deadline + 5 + reconcile_slack(1, 2, 1, 3))
    assert status in FINAL, f"{uid} still {status} {time.time() - deadline:+.1f}s from its deadline"
    assert [e["pos_order_id"] for e in live.ledger(uid)] == (
        [answer["order_details"]["pos_order_id"]] if status == "placed" else []
    )
    swept = wait_until(
        lambda: (live.metric("posbridge_sweep_last_success_timestamp_seconds") or 0) > killed_at,
        10,
        0.5,
        "posbridge_sweep_last_success_timestamp_seconds past the kill",
    )
    assert swept <= time.time() + 1


def test_a_fresh_clone_starts_beat_from_the_procfile_and_recovers_a_killed_submit(stacks, tmp_path):
    """Issue 10, finding 10."""
    # `git clone` of this checkout (its committed HEAD: what a platform running the Procfile
    # gets), every process run from the clone with the Procfile's lines as they are (no
    # BEAT_SCHEDULE_FILE, no var/ made by hand), the clone's code first on the path.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True, timeout=60)
    assert not (clone / "var").exists()
    live = stacks(root=str(clone), beat=False, RECONCILE_SECONDS="5", PYTHONPATH=str(clone))
    live.stack.env.pop("BEAT_SCHEDULE_FILE", None)  # the Procfile's line as it is, as honcho would run it
    beat = live.stack.start("beat")
    live.warm_menu()
    time.sleep(4)
    assert beat.poll() is None, f"beat exited with {beat.returncode}: {live.stack.log('beat')[-1500:]}"
    uid, deadline = web_killed_mid_submit(live)
    status, _answer = state_by(live, uid, deadline + 5 + reconcile_slack(1, 2, 1, 3))
    assert status in FINAL, f"{uid} still {status} {time.time() - deadline:+.1f}s from its deadline"
    assert beat.poll() is None, live.stack.log("beat")[-1500:]


def test_a_pos_answering_503_to_every_post_errors_the_order_promptly(stacks):
    """Issue 10, finding 11."""
    settings = {
        "ORDER_MAX_ASYNC_SECONDS": "8",
        "RETRY_BASE_SECONDS": "0.5",
        "RETRY_CAP_SECONDS": "30",
        "POS_CONNECT_TIMEOUT": "1",
        "POS_READ_TIMEOUT": "2",
        "CLOCK_SKEW_SECONDS": "1",
        "RECONCILE_SECONDS": "60",
    }
    live = stacks(**settings)
    live.warm_menu()
    live.knobs("*", error_rate=1.0, error_status=503)  # lookups answer (and show no order)
    body = sample_order()
    uid = body["request_uid"]
    assert live.submit(body).status_code == 202
    deadline = time.time() + 8  # the arrival was before this answer
    bound = deadline + 1 + 1 + 2 + 2  # + clock skew + one lookup (connect + read) + 2 s slack
    status, answer = state_by(live, uid, bound)
    assert status == "errored", (
        f"{uid} still {status} {time.time() - deadline:+.1f}s from its deadline (bound +{bound - deadline:.0f}s)"
    )
    assert codes(answer) == ["deadline_exceeded"], brief(answer)
    assert live.ledger(uid) == []


def test_pos_lookups_down_pending_at_most_reconcile_seconds_past_the_deadline(stacks):
    """Issue 10, finding 4."""
    live = stacks(
        ORDER_MAX_ASYNC_SECONDS="5",
        RECONCILE_SECONDS="4",
        CLOCK_SKEW_SECONDS="1",
        RETRY_BASE_SECONDS="0.2",
        RETRY_CAP_SECONDS="1",
    )
    live.warm_menu()
    # POSTs fail (nothing created, but the service cannot know) and lookups fail: the POS cannot tell
    live.knobs("*", error_rate=1.0, error_status=503, lookup_down=True)
    body = sample_order()
    uid = body["request_uid"]
    assert live.submit(body).status_code == 202
    deadline = time.time() + 5
    bound = deadline + 4 + reconcile_slack(1, 1, 1, 3)
    status, answer = state_by(live, uid, bound)
    assert status == "errored", (
        f"{uid} still {status} {time.time() - deadline:+.1f}s past its deadline "
        f"(RECONCILE_SECONDS 4, bound +{bound - deadline:.0f}s)"
    )
    assert codes(answer) == ["pos_outcome_unknown"], brief(answer)


def test_pos_down_calls_per_order_within_the_backoff_bound_and_a_redrive_does_not_double_them(stacks):
    """Issue 10, finding 9."""
    seconds, base, cap = 16, 0.5, 8
    live = stacks(
        ORDER_MAX_ASYNC_SECONDS=str(seconds),
        RETRY_BASE_SECONDS=str(base),
        RETRY_CAP_SECONDS=str(cap),
        RECONCILE_SECONDS="60",
    )
    live.warm_menu()
    live.knobs("*", down=True)
    body = sample_order()
    uid = body["request_uid"]
    started = time.time()
    assert live.submit(body).status_code == 202
    time.sleep(max(0.0, started + seconds / 2 - time.time()))
    redrive = live.cli("orders", "redrive", uid)
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    time.sleep(max(0.0, started + seconds - time.time()))
    calls = live.pos_calls(uid)
    bound = pos_call_bound(seconds, base, cap)
    total = calls["posts"] + calls["lookups"]
    assert total <= bound, (
        f"{total} POS calls ({calls['posts']} POSTs, {calls['lookups']} lookups) in "
        f"{seconds}s of outage with a redrive; bound {bound:.1f}"
    )
