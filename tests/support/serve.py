"""What the tests of the run command (`./dev serve`, `python -m bin.run`) share."""

from __future__ import annotations

import queue
import time

UNSET = (
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "POS_BASE_URL",
    "FLOWER_BASIC_AUTH",
    "PAR_JWT_SECRET",
    "PAR_SHARED_ID",
    "POS_API_TOKEN",
    "BEAT_SCHEDULE_FILE",
    "ARCHIVE_URL",
    "ARCHIVE_AFTER_SECONDS",
)


def read_until(lines: queue.Queue, marker: str, timeout: float, seen: list[str]) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError("the run command exited:\n" + "".join(seen)[-4000:])
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} within {timeout}s:\n" + "".join(seen)[-4000:])
