"""The archive's invariants in the reliability run (issue 21) on hand-made evidence: polls of
answered orders, and where each order is after the run (Redis on fakeredis, the archive a stub)."""

from __future__ import annotations

from types import SimpleNamespace

import fakeredis

from harness.faults import Window
from reliability.archive import Read
from reliability.archive_checks import check_placement, check_reads
from reliability.load import Call, Journal
from reliability.orders import Planned

T0 = 1_800_000_000.0


def reads(*made: Read) -> SimpleNamespace:
    return SimpleNamespace(reads=list(made))


def read(status, at=T0, retry_after="5", shown="placed", uid="u1") -> Read:
    return Read(uid, at, at + 0.01, status, shown, retry_after, archived=status == 200)


def test_a_poll_of_an_answered_order_never_404s_and_503s_only_while_the_archive_is_away():
    away = [Window("kill_postgres", T0 + 10, T0 + 13)]
    check, stats = check_reads(reads(read(200), read(503, T0 + 11), read(503, T0 + 13.5)), away)
    assert check.violations == [] and stats["503_archive_away"] == 2 and stats["from_archive"] == 1
    assert len(check_reads(reads(read(404)), away)[0].violations) == 1
    assert len(check_reads(reads(read(503, T0 + 30)), away)[0].violations) == 1  # everything up
    assert len(check_reads(reads(read(503, T0 + 11, retry_after=None)), away)[0].violations) == 1
    assert len(check_reads(reads(read(None, T0 + 11)), away)[0].violations) == 1  # the web was up
    assert check_reads(reads(read(None, T0 + 11)), [Window("kill_web", T0 + 10, T0 + 12)])[0].violations == []


class Archive:
    def __init__(self, rows):
        self.rows = rows

    def get_many(self, uids):
        return {uid: self.rows[uid] for uid in uids if uid in self.rows}

    def count(self):
        return len(self.rows)


def journal(*answers: tuple[str, int, str | None]) -> Journal:
    made = Journal()
    for uid, status, shown in answers:
        made.add_plan(Planned(uid, "plain", "accepted", {}))
        made.add(Call(uid, "submit", T0, T0, status, {"status": shown} if shown else None))
    made.add_plan(Planned("v1", "validate", "validated", {}))
    made.add(Call("v1", "submit", T0, T0, 200, {"status": "validated"}))  # never recorded: not looked for
    return made


def row(status, fp="f1"):
    return SimpleNamespace(status=status, fp=fp)


def test_every_answered_order_is_in_redis_or_the_archive_and_in_one_final():
    redis = fakeredis.FakeRedis()
    redis.hset("order:both", mapping={"status": "placed", "fp": "f1"})
    redis.hset("order:redis", mapping={"status": "rejected", "fp": "f1"})
    answers = journal(("both", 200, "placed"), ("redis", 200, "rejected"), ("moved", 202, "pending"))
    archive = Archive({"both": row("placed"), "moved": row("errored")})
    one, finals, where = check_placement(answers, reads(read(200, shown="errored", uid="moved")), redis, archive)
    assert one.violations == [] and finals.violations == [] and one.checked == 3
    assert where == {"archived": 1, "in_both": 1, "in_redis": 1}

    lost = journal(("gone", 202, "pending"))
    assert check_placement(lost, reads(), redis, Archive({}))[0].violations == [
        "gone: answered 2xx, in neither Redis nor the archive"
    ]
    split = Archive({"both": row("errored")})
    one, finals, _ = check_placement(journal(("both", 200, "placed")), reads(), redis, split)
    assert len(one.violations) == 1 and len(finals.violations) == 1
    shown_twice = reads(read(200, shown="errored", uid="moved"))
    _, finals, _ = check_placement(journal(("moved", 200, "placed")), shown_twice, redis, Archive({}))
    assert finals.violations == ["moved: shown as ['errored', 'placed']"]
