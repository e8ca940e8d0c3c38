"""Backoff for every kind of retry: a POST, a lookup, a busy answer, a callback.

Exponential with full jitter: the n-th retry waits uniform(0, min(cap, base * 2**n)) seconds,
floored at base / 4 so a run of tiny draws cannot turn into a burst. While the POS is down an
order therefore makes about log2(cap / base) calls while the delay grows, then one every
cap / 2 seconds on average: `expected_calls` is that figure, and the reliability harness holds
every order to it (with its own slack).
"""

from __future__ import annotations

import math
import random


def delay(retries: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try, after `retries` tries so far."""
    ceiling = min(cap, base * 2 ** min(max(retries, 0), 60))
    return max(base / 4, (rng or random).uniform(0, ceiling))


def expected_calls(window: float, base: float, cap: float) -> float:
    """About how many calls a window of `window` seconds of failures costs one order."""
    growing = max(0.0, math.log2(max(cap / base, 1.0)))
    grown_after = base * (2**growing) / 2  # the mean time spent while the delay grows
    return growing + 1 + max(0.0, window - grown_after) / (cap / 2)
