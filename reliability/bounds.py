"""The bounds the invariants (and tests/integration/test_engine_faults.py) hold the engine to."""

from __future__ import annotations

import math

# Calls any chain may make beyond its backoff: the inline POST, the deciding lookup at the
# deadline, and one move a claim or a redrive may start at once.
FIXED_CALLS = 3


def pos_call_bound(seconds: float, base: float, cap: float) -> float:
    """The most POS calls (POSTs and lookups together) one order may get in `seconds` while
    every call fails, with backoff from RETRY_BASE_SECONDS (`base`) doubling to
    RETRY_CAP_SECONDS (`cap`) with full jitter (posnext-api.md Submit 5).

    Growing phase: the delay doubles from `base`, so it reaches the cap (or `seconds`) after
    about log2(seconds / base) calls. Capped phase: each delay is uniform in [0, cap], cap / 2
    on average, so `seconds` hold about 2 * seconds / cap of them. Slack, stated: the fixed
    calls above, plus 3 * sqrt(n) for the capped count n (n draws of U(0, cap) sum to
    n * cap / 2 with a deviation of cap * sqrt(n / 12), about sqrt(n / 3) calls: 3 * sqrt(n)
    is five deviations), so a correct engine practically never fails it, and a chain that
    retries without backing off (or two chains at once) fails it at once.
    """
    seconds = max(float(seconds), 0.0)
    growth = math.log2(max(seconds / base, 1.0))
    capped = 2 * seconds / cap
    return growth + capped + FIXED_CALLS + 3 * math.sqrt(capped)


def reconcile_slack(clock_skew: float, sweep: float, connect: float, read: float) -> float:
    """How long past deadline + RECONCILE_SECONDS an order may still be pending: the clock
    skew allowance, two periods of the schedule's dispatch (beat), one POS call that was
    already under way, and 2 s for a loaded two-core machine."""
    return clock_skew + 2 * sweep + connect + read + 2.0
