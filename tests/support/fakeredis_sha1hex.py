"""`redis.sha1hex` inside fakeredis's Lua scripts, as real Redis has had it since 2.6.

The menu cache's scripts version an entry by the SHA-1 of its bytes (app/menus.py); fakeredis
(the unit layer's Redis) does not give its Lua runtime that function, so this adds it, once per
fake server's runtime: the lowercase hex SHA-1 of the string, as Redis answers it.
"""

from __future__ import annotations

import hashlib

from fakeredis.commands_mixins.scripting_mixin import ScriptingCommandsMixin


def sha1hex(value) -> bytes:
    return hashlib.sha1(bytes(value)).hexdigest().encode()  # noqa: S324 - Redis's function, not security


def install() -> None:
    original = ScriptingCommandsMixin._get_server_runtime
    if getattr(original, "with_sha1hex", False):
        return

    def runtime_with_sha1hex(self, server):
        runtime = original(self, server)
        table = runtime.globals().redis
        if table is not None and table.sha1hex is None:
            table.sha1hex = sha1hex
        return runtime

    runtime_with_sha1hex.with_sha1hex = True  # type: ignore[attr-defined]
    ScriptingCommandsMixin._get_server_runtime = runtime_with_sha1hex
