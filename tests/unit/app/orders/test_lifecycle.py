"""The lifecycle's enums are the only spelling of a status, a move kind, a move's result or a
write kind: the Lua scripts take them from tables built from the enums, never from literals."""

from __future__ import annotations

import re

import fakeredis
import pytest

from app.orders import scripts
from app.orders.lifecycle import FINAL, Callback, Move, MoveResult, Reconcile, Status, Write, lua_enum, may_move

ENUMS = (Status, Move, MoveResult, Reconcile, Callback, Write)
SCRIPTS = {
    name: body.removeprefix(scripts.PRELUDE)  # the prelude's tables are the enums' one spelling
    for name, body in vars(scripts).items()
    if name.isupper() and isinstance(body, str) and body.startswith(scripts.PRELUDE)
}


def _lua_literals(source: str) -> set[str]:
    code = "\n".join(line.split("--", 1)[0] for line in source.splitlines())  # Lua comments left out
    return set(re.findall(r"'([A-Za-z_]+)'", code))


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_no_script_spells_a_lifecycle_value_by_hand(name):
    values = {member.value for enum in ENUMS for member in enum if member.value} - set(scripts.FIELDS)
    assert _lua_literals(SCRIPTS[name]) & values == set()


@pytest.mark.parametrize("enum", ENUMS)
def test_each_lua_table_holds_every_member_as_redis_runs_it(enum):
    redis = fakeredis.FakeRedis()
    script = f"local T = {lua_enum(enum)}\nreturn T[ARGV[1]]"
    for member in enum:
        assert redis.eval(script, 0, member.name) == member.value.encode()


def test_a_move_member_names_its_kind_and_order():
    assert [kind.member("u-1") for kind in Move] == ["o:u-1", "c:u-1", "r:u-1"]


def test_every_final_status_is_a_move_result_and_nothing_moves_out_of_a_final():
    assert {MoveResult(status) for status in FINAL} <= set(MoveResult)
    assert not any(may_move(final, to) for final in FINAL for to in Status)
    assert all(may_move(Status.PENDING, final) for final in FINAL)
