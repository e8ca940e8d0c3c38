"""The worker's command patches gevent before celery is imported (bin/celery_command.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bin.celery_command import pool

# In a process started as the Procfile's worker line starts it, kombu's retry (what its broker
# reconnects run) sleeps 0.5 s between two failed tries; a greenlet ticking meanwhile shows
# whether that sleep let the rest of the worker run.
PROBE = """
import sys
sys.argv = ["celery", "-A", "workers", "worker", "--pool", "gevent"]
{bootstrap}
import gevent
from kombu.utils.functional import retry_over_time
ticks, tries = [], []
gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.05) for _ in range(1000)])
def connect():
    tries.append(len(ticks))
    raise ConnectionError("refused")
try:
    retry_over_time(connect, ConnectionError, max_retries=1, interval_start=0.5)
except ConnectionError:
    pass
print(tries[1] - tries[0])
"""
OURS = (
    "from bin.celery_command import patch_first; patch_first(sys.argv[1:])\n"
    "from celery.__main__ import maybe_patch_concurrency; maybe_patch_concurrency()"
)
CELERYS = "import celery\nfrom celery.__main__ import maybe_patch_concurrency; maybe_patch_concurrency()"


def _ticks_during_a_broker_retry(bootstrap: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(bootstrap=bootstrap)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.split()[-1])


def test_a_broker_retry_in_the_worker_lets_the_other_greenlets_run():
    assert _ticks_during_a_broker_retry(OURS) > 0


def test_celerys_own_entry_point_freezes_them_which_is_why_the_worker_does_not_use_it():
    """The finding (docs/RELIABILITY.md): kombu held the blocking sleep; if celery fixes this,
    this test fails and the command in bin/ can go."""
    assert _ticks_during_a_broker_retry(CELERYS) == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-A", "workers", "worker", "--pool", "gevent"], "gevent"),
        (["-A", "workers", "worker", "--pool=gevent"], "gevent"),
        (["-A", "workers", "worker", "-P", "gevent"], "gevent"),
        (["-A", "workers", "worker", "-Pgevent"], "gevent"),
        (["-A", "workers", "worker", "--pool", "prefork"], "prefork"),
        (["-A", "workers", "beat"], None),
        (["-A", "workers", "worker", "--pool"], None),
    ],
)
def test_the_pool_is_read_as_celery_reads_it(argv, expected):
    assert pool(argv) == expected
