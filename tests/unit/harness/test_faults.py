"""harness/faults.py: tracks of faults, their windows and counts, and the process signals."""

import random
import subprocess
import sys
import time

import psutil

from harness.faults import Tracks, freeze_group, kill_group, thaw_group


def _tracks(**kwargs):
    return Tracks(random.Random(1), scale=0.0, **kwargs)


def test_every_kind_of_every_track_runs_in_the_first_round_even_when_stopped_at_once():
    tracks = _tracks()
    done = []
    tracks.track("a", ("one", "two", "three"), lambda kind: done.append(kind) or f"did {kind}", (0.0, 0.0))
    tracks.track("b", ("four",), lambda kind: f"did {kind}", (0.0, 0.0))
    tracks.stopping.set()
    tracks.start()
    tracks.stop()
    assert sorted(done) == ["one", "three", "two"]
    assert tracks.done()
    assert tracks.count() == {"one": 1, "two": 1, "three": 1, "four": 1}
    assert {w.detail for w in tracks.windows} == {"did one", "did two", "did three", "did four"}
    assert all(w.start <= w.end for w in tracks.windows)


def test_rounds_wanted_are_all_done_before_a_track_stops():
    tracks = _tracks(rounds=3)
    tracks.track("a", ("x", "y"), lambda kind: kind, (0.0, 0.0))
    tracks.stopping.set()
    tracks.start()
    tracks.stop()
    assert tracks.rounds == {"a": 3}
    assert tracks.count() == {"x": 3, "y": 3}


def test_a_failed_fault_is_recorded_and_listed_as_an_error():
    def inject(kind: str) -> str:
        raise RuntimeError("no such process")

    tracks = _tracks()
    tracks.track("a", ("kill",), inject, (0.0, 0.0))
    tracks.stopping.set()
    tracks.start()
    tracks.stop()
    assert tracks.errors == ["kill: failed: RuntimeError: no such process"]
    assert tracks.windows[0].detail == "failed: RuntimeError: no such process"


def test_an_alias_gets_a_window_of_its_own_but_counts_and_uncounted_kinds_do_not():
    tracks = _tracks(aliases={"failover": "restart_redis"}, uncounted=("stale",))
    tracks.track("a", ("failover",), lambda kind: "promoted", (0.0, 0.0))
    tracks.stopping.set()
    tracks.start()
    tracks.stop()
    tracks.record("stale", 1.0, 2.0, "after the cut", host="http://web1")
    assert [(w.kind, w.detail) for w in tracks.windows[:2]] == [
        ("failover", "promoted"),
        ("restart_redis", "as failover"),
    ]
    assert tracks.windows[2].host == "http://web1"
    assert tracks.count() == {"failover": 1}


def _status(pid: int, stopped: bool) -> bool:
    """Whether the process comes to be stopped (or not), asked until it does (a signal lands
    when the process is next scheduled)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if (psutil.Process(pid).status() == psutil.STATUS_STOPPED) == stopped:
            return True
        time.sleep(0.01)
    return False


def test_a_process_group_frozen_thawed_and_killed():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        freeze_group(process)
        assert _status(process.pid, stopped=True)
        thaw_group(process)
        assert _status(process.pid, stopped=False)
        kill_group(process)
        assert process.returncode == -9
        kill_group(process)  # gone already: nothing to do
    finally:
        if process.poll() is None:
            process.kill()
