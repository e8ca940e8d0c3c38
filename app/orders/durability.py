"""Durable finals: a final state is on disk, or on a replica, before anyone is told of it.

Two modes (DURABILITY), one rule — a final state is answered (submit, polling, the recovery
list, a callback) only after the Redis that holds it confirmed it:

- `fsync` (default): Redis runs with `appendfsync always`. Redis writes and fsyncs the AOF
  before it sends any reply of that event-loop turn, so every reply that shows a final state
  comes after its fsync: nothing more to do per order. The embedded Redis (bin/stack.py) and
  docker-compose run so; `check()` warns at start-up when the server says otherwise.
- `replica`: after the write, `WAIT <replicas> <timeout>` on the same connection; a reader
  that did not write the state itself first writes a probe on its connection and WAITs for
  it (replication is one ordered stream, so the probe's acknowledgement covers every write
  before it, the final state it read included). Not acknowledged in time: the answer is
  `pending` (PAR polls again), never the unconfirmed final.

Measured cost of each option: docs/ENGINE.md ("Durable finals").
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
PROBE_KEY = "durability:probe"
MODES = ("fsync", "replica")


class Durability:
    def __init__(self, mode: str = "fsync", replicas: int = 1, timeout_ms: int = 1000):
        if mode not in MODES:
            raise ValueError(f"DURABILITY must be one of {', '.join(MODES)}")
        self.mode = mode
        self.replicas = replicas
        self.timeout_ms = timeout_ms

    @property
    def waits(self) -> bool:
        return self.mode == "replica"

    def after(self, pipe) -> None:
        """Queue the acknowledgement of the writes queued before it on this pipeline."""
        if self.waits:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)

    def acknowledged(self, results: list) -> bool:
        """Whether the pipeline that ran after() was acknowledged (its last result)."""
        return not self.waits or int(results[-1]) >= self.replicas

    def confirm(self, redis) -> bool:
        """For a reader about to answer a final state it did not write itself."""
        if not self.waits:
            return True
        pipe = redis.pipeline(transaction=False)
        pipe.incr(PROBE_KEY)
        self.after(pipe)
        try:
            return self.acknowledged(pipe.execute())
        except Exception as exc:  # noqa: BLE001 - not confirmed is the safe answer
            log.warning("durability not confirmed", extra={"error": type(exc).__name__})
            return False

    def check(self, redis) -> str | None:
        """A warning when the server is not set up for this mode (None when it is, or cannot tell)."""
        try:
            if self.mode == "fsync":
                value = redis.config_get("appendfsync").get("appendfsync")
                aof = redis.config_get("appendonly").get("appendonly")
                if aof != "yes" or value != "always":
                    return (f"DURABILITY=fsync needs appendonly yes and appendfsync always; the server has "
                            f"appendonly {aof}, appendfsync {value}: a final state can be lost with the last second")
            else:
                connected = int(redis.info("replication").get("connected_slaves", 0))
                if connected < self.replicas:
                    return f"DURABILITY=replica needs {self.replicas} replica(s); {connected} connected"
        except Exception:  # noqa: BLE001 - CONFIG is often disabled on managed Redis: cannot tell
            return None
        return None
