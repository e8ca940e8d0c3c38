"""The archive's invariants (issue 21), judged after the run settled:

1. every answered order readable the whole time: no poll of an order already answered 2xx ever
   404s; a 503 only with Retry-After and only while the archive (or Redis) was away; no answer
   only while the web process was (reliability.archive.Reads' polls);
2. one final per order: the finals shown for an order (the load's answers, the reader's polls,
   Redis, the archive) are never two different ones;
3. every order in exactly one final state across Redis and the archive: each order the load got
   a 2xx for is in Redis or in the archive (never neither) and, where in both, with the same
   status and payload fingerprint.
"""

from __future__ import annotations

from collections import Counter

from harness.faults import Window
from harness.report import Check
from reliability.archive import AWAY, Reads
from reliability.faults import UNAVAILABLE, WEB_AWAY
from reliability.invariants import FINAL, cut_off, stale_reset

MARGIN = 1.0  # a request may find the archive (or Redis) back a moment after the window ends


def _during(started: float, ended: float, windows: list[Window], kinds: tuple[str, ...], margin: float) -> bool:
    return any(w.kind in kinds and started <= w.end + margin and ended >= w.start for w in windows)


def check_reads(reads: Reads, windows: list[Window]) -> tuple[Check, dict]:
    check = Check(
        "every answered order readable the whole time: no poll 404s; 503 + Retry-After only while the "
        "archive (or Redis) was away; no answer only while the web was"
    )
    stats: Counter = Counter()
    for read in reads.reads:
        check.checked += 1
        stats[str(read.status or "none")] += 1
        stats["from_archive"] += read.archived
        if read.status == 404:
            check.fail(f"{read.uid}: poll answered 404 at {read.started:.3f}")
        elif read.status == 503:
            archive_away = _during(read.started, read.ended, windows, AWAY, MARGIN)
            other = _during(read.started, read.ended, windows, UNAVAILABLE, MARGIN)
            stats["503_archive_away" if archive_away else "503_redis_away"] += 1
            if not read.retry_after:
                check.fail(f"{read.uid}: 503 without Retry-After at {read.started:.3f}")
            elif not (archive_away or other):
                check.fail(f"{read.uid}: 503 at {read.started:.3f}, the archive and Redis both up")
        elif read.status is None:
            call = _as_call(read, reads)
            if not (
                _during(read.started, read.ended, windows, WEB_AWAY, 0.5)
                or stale_reset(call, windows)
                or cut_off(call, windows)
            ):
                check.fail(f"{read.uid}: no answer ({read.error}) at {read.started:.3f}")
        elif read.status >= 400:
            check.fail(f"{read.uid}: poll answered {read.status} at {read.started:.3f}")
    return check, dict(sorted(stats.items()))


def _as_call(read, reads: Reads):
    from reliability.load import Call

    return Call(read.uid, "poll", read.started, read.ended, None, None, error=read.error, host=read.host)


def _held(redis, uids: list[str]) -> dict[str, tuple[str, str]]:
    pipe = redis.pipeline(transaction=False)
    for uid in uids:
        pipe.hmget(f"order:{uid}", "status", "fp")
    out = {}
    for uid, (status, fp) in zip(uids, pipe.execute(), strict=True):
        if status is not None:
            out[uid] = (status.decode(), (fp or b"").decode())
    return out


def check_placement(journal, reads: Reads, redis, archive) -> tuple[Check, Check, dict]:
    """Where each answered order is after the run, and the finals it was ever shown in."""
    one = Check(
        "every order in exactly one final state across Redis and the archive: in Redis or the archive, "
        "never neither; where in both, the same status and payload"
    )
    finals = Check("no order shown in two different finals (answers, polls, Redis, the archive)")
    with journal.lock:
        calls = list(journal.calls)
        recorded = {uid for uid, p in journal.planned.items() if p.expect in ("accepted", "rejected")}
    shown: dict[str, set[str]] = {}
    answered: set[str] = set()
    for call in calls:
        body = call.body if isinstance(call.body, dict) else {}
        if call.uid not in recorded:  # validate-only and refused requests are never recorded
            continue
        if call.status in (200, 202):
            answered.add(call.uid)
            if body.get("status") in FINAL:
                shown.setdefault(call.uid, set()).add(body["status"])
    for read in reads.reads:
        if read.status == 200 and read.shown in FINAL:
            shown.setdefault(read.uid, set()).add(read.shown)
    uids = sorted(answered | set(shown))
    held = _held(redis, uids)
    rows = {}
    for start in range(0, len(uids), 500):
        rows.update(archive.get_many(uids[start : start + 500]))
    stats: Counter[str] = Counter()
    for uid in uids:
        one.checked += 1
        finals.checked += 1
        in_redis, row = held.get(uid), rows.get(uid)
        stats["in_both" if in_redis and row else "in_redis" if in_redis else "archived" if row else "neither"] += 1
        if in_redis is None and row is None:
            one.fail(f"{uid}: answered 2xx, in neither Redis nor the archive")
        elif in_redis is not None and row is not None and in_redis != (row.status, row.fp):
            one.fail(
                f"{uid}: Redis holds {in_redis[0]}, the archive {row.status}"
                + (" (other payloads)" if in_redis[1] != row.fp else "")
            )
        seen = set(shown.get(uid, ()))
        if in_redis is not None and in_redis[0] in FINAL:
            seen.add(in_redis[0])
        if row is not None:
            seen.add(row.status)
        if len(seen) > 1:
            finals.fail(f"{uid}: shown as {sorted(seen)}")
    return one, finals, dict(sorted(stats.items()))


def checks(journal, reads: Reads, windows: list[Window], redis, archive) -> tuple[list[Check], dict]:
    readable, read_stats = check_reads(reads, windows)
    one, finals, where = check_placement(journal, reads, redis, archive)
    return [readable, finals, one], {"polls": read_stats, "where_after_the_run": where, "archive_rows": archive.count()}


# docs/RELIABILITY.md, "What the run does" (reliability/docs.py appends it)
DOC = """\
6. The archive (issue 21, `reliability/archive.py`): the run starts a PostgreSQL of its own
   (`tests/support/postgres.py`: Debian's binaries, its own data directory and port), migrates
   it once, and runs the stack with `ARCHIVE_URL` on it and `ARCHIVE_AFTER_SECONDS` 4, so
   beat's mover runs every second and most finals leave Redis within the run. Two more faults
   on the process track: `kill_mover` (waits for a mover run, whose lock `archive:mover` names
   its holder host:pid, and SIGKILLs that Celery worker: every other time from the first while
   the run waits inside its archive write, before its commit, on the table the harness holds
   with `LOCK TABLE ... IN EXCLUSIVE MODE`, else 0-4 ms after the lock, mid-run or just after;
   restarted) and
   `kill_postgres` (SIGKILL of the postmaster and every backend at once, down 0.5-3 s,
   restarted through crash recovery). A reader polls orders the load got a 2xx for,
   six a second, most of them old enough to have moved, and notes whether Redis still held
   each after the answer. Checked besides (`reliability/archive_checks.py`): every answered
   order readable the whole time (no poll 404s; a 503 only with Retry-After and only while
   the archive or Redis was away, counted by which; no answer only while the web was down); no
   order shown in two different finals (the load's answers, the polls, Redis, the archive);
   every order the load got a 2xx for in Redis or the archive after the run, never in neither,
   and with the same status and payload fingerprint where in both.
"""
