"""Beat's scheduler: celery-redbeat (the schedule and a lock in Redis, so a second beat waits
and takes over), made to survive Redis trouble. Stock redbeat writes its static entries once,
at start, takes its lock once (left None if Redis was away then), extends it without checking
it, and lets a Redis error end the process: after a Redis restart without persistence, or a
failover to a replica that had not caught up, it sends nothing, or dies. Here every tick first
checks both: missing entries are written again from the config; a lost or never-taken lock is
taken, and while another beat holds it this one stands by; a Redis error skips the tick, and
one at start (a beat restarted while Redis loads its AOF) leaves the schedule to the first tick
that reaches Redis."""

from __future__ import annotations

import logging

import redis
import redis.lock
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, get_redis

log = logging.getLogger(__name__)
REDIS_TROUBLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ResponseError,
    redis.exceptions.LockError,
)


class Scheduler(RedBeatScheduler):
    lock: redis.lock.Lock | None = None
    schedule_written = False

    def setup_schedule(self) -> None:
        try:
            super().setup_schedule()
            self.schedule_written = True
        except REDIS_TROUBLE as exc:  # stock redbeat would end beat here (the scheduler is made at start)
            self.schedule_written = False
            log.warning(
                "beat: Redis trouble while writing the schedule; the next tick writes it",
                extra={"error": type(exc).__name__},
            )

    def _hold_lock(self, client) -> bool:
        if self.lock is None:
            lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
            lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)  # redbeat's extend-to, as at start
            self.lock = lock
        if self.lock.owned():
            return True
        if self.lock.acquire(blocking=False):
            log.warning("beat: the lock was lost or never taken; taken now")
            return True
        return False  # another beat is active

    def tick(self, min=min, **kwargs):  # noqa: A002 - celery's own signature
        try:
            client = get_redis(self.app)
            conf = self.app.redbeat_conf
            if self.lock_key and not self._hold_lock(client):
                return self.max_interval
            if conf.schedule and not (self.schedule_written and client.exists(conf.statics_key)):
                if self.schedule_written:
                    log.warning("beat: the schedule is gone from Redis; writing it again")
                self.setup_schedule()
            return super().tick(min=min, **kwargs)
        except REDIS_TROUBLE as exc:
            log.warning("beat: Redis trouble; this tick is skipped", extra={"error": type(exc).__name__})
            return min(1.0, self.max_interval)
