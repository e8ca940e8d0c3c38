"""Durable before answered: what the Redis that holds an order confirmed, and how.

Three modes (DURABILITY):

- `fsync` (default): Redis runs with `appendonly yes` and `appendfsync always`; it fsyncs the
  AOF before it replies, so a write's reply is its confirmation.
- `replica`: a write is confirmed by `WAIT <replicas> <timeout>` on the same connection after
  it. A reader that did not make the write itself first writes a probe and WAITs for it
  (replication is one ordered stream: the probe's acknowledgement covers every write before it).
- `none`: development and tests only, chosen explicitly: every write counts as confirmed.

The confirmation belongs to the write: once a state was confirmed, the record says so (its
`acked` field, app/orders/scripts.py), and every later read answers that state as it is, without
a fresh wait. `check()` is the start-up and readiness truth: the server must be set up for the
mode, and must never evict (under any other `maxmemory-policy` an order hash can vanish while
its schedule entry stays).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

import logging
from enum import StrEnum

log = logging.getLogger(__name__)
PROBE_KEY = "durability:probe"


class Mode(StrEnum):
    FSYNC = "fsync"
    REPLICA = "replica"
    NONE = "none"


MODES = tuple(mode.value for mode in Mode)


class Durability:
    def __init__(self, mode: str = Mode.FSYNC, replicas: int = 1, timeout_ms: int = 1000):
        try:
            self.mode = Mode(mode)
        except ValueError:
            raise ValueError(f"DURABILITY must be one of {', '.join(MODES)}") from None
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.waits = self.mode is Mode.REPLICA  # a write's reply alone does not confirm it: a WAIT follows

    def after(self, pipe: Pipeline) -> None:
        """Queue the acknowledgement of the writes queued before it on this pipeline."""
        if self.waits:
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)

    def acknowledged(self, results: list[Any]) -> bool:
        """Whether the pipeline that ran after() was acknowledged (its last result)."""
        return not self.waits or int(results[-1]) >= self.replicas

    def confirm(self, redis: Redis) -> bool:
        """For a reader about to answer a state whose record does not say it was confirmed."""
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

    def check(self, redis: Redis) -> str | None:
        """What keeps this Redis from holding the promise (naming the setting), or None.

        A server that refuses CONFIG (managed Redis often does) cannot be checked: None."""
        try:
            policy = _config(redis, "maxmemory-policy")
            if policy is not None and policy != "noeviction":
                return (
                    f"maxmemory-policy is {policy}, not noeviction: Redis may evict an order's record "
                    f"while its schedule entry stays"
                )
            if self.mode is Mode.FSYNC:
                aof, fsync = _config(redis, "appendonly"), _config(redis, "appendfsync")
                if aof is not None and (aof != "yes" or fsync != "always"):
                    return (
                        f"DURABILITY=fsync needs appendonly yes and appendfsync always; the server has "
                        f"appendonly {aof}, appendfsync {fsync}: an answered state can be lost"
                    )
            elif self.mode is Mode.REPLICA:
                connected = int(redis.info("replication").get("connected_slaves", 0))
                if connected < self.replicas:
                    return f"DURABILITY=replica needs {self.replicas} replica(s); {connected} connected"
        except Exception as exc:  # noqa: BLE001 - an unreachable Redis is readiness's other check
            log.debug("durability check skipped", extra={"error": type(exc).__name__})
            return None
        return None


def _config(redis: Redis, name: str) -> str | None:
    """One CONFIG GET value, or None when the server does not allow CONFIG."""
    try:
        value = redis.config_get(name).get(name)
    except Exception as exc:  # ResponseError: CONFIG renamed or disabled
        if type(exc).__name__ in ("ResponseError", "NoPermissionError"):
            return None
        raise
    return None if value is None else str(value)
