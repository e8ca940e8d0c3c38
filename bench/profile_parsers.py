"""Reading the profilers' output for bench/web_profile.py: py-spy's raw stacks by component
(COMPONENTS: the innermost frame of a known one), `strace -c`'s summary and `perf report`'s rows,
and the shares and ms per request made of their counts."""

from __future__ import annotations

import os
import re
import sysconfig
from collections import Counter

from bin.stack import ROOT

OTHER = "other"
# The first that matches a frame's file; a frame of no component (the stdlib's email, hmac, uuid...)
# counts for the next outer frame that has one.
COMPONENTS = [
    (name, re.compile(pattern))
    for name, pattern in (
        ("gunicorn", r"(^|/)gunicorn(/|\.conf\.py$)"),  # gunicorn.conf.py: its logger class
        ("gevent hub/greenlet/libev", r"(^|/)(gevent|greenlet)/|greenlet|libev"),
        ("flask+werkzeug", r"(^|/)(flask|werkzeug)/"),
        ("redis-py (+hiredis)", r"(^|/)(redis|hiredis)/|hiredis"),
        ("requests/urllib3/http.client", r"(^|/)(requests|urllib3)/|(^|/)http/client\.py$"),
        ("json/orjson", r"(^|/)json/|orjson|_json\.c$"),
        ("logging", r"(^|/)logging/"),
        ("marshmallow", r"(^|/)marshmallow/"),
        ("our app", rf"^(app|schemas)/|^{re.escape(str(ROOT))}/(app|schemas)/"),
    )
]
SITE = {name.split(".")[0] for name in os.listdir(sysconfig.get_paths()["purelib"]) if not name.endswith("-info")}
SOCKET = re.compile(r"(^|/)gevent/(_socket\d*|_socketcommon|socket)\.py$|^socket\.py$|/python3\.\d+/socket\.py$")
FRAME = re.compile(r"^(.*) \(([^()]*)\)$")


def component(where: str) -> str | None:
    """A frame file's component: a listed one, else `other: <package>` for any other installed package."""
    found = next((name for name, pattern in COMPONENTS if pattern.search(where)), None)
    top = where.split("site-packages/")[-1].split("/")[0].split(".")[0]
    return found or (f"{OTHER}: {top}" if top in SITE else None)


def attribute(raw: str) -> dict:
    """py-spy raw lines: samples by component (innermost known frame), by leaf function, and
    how many were in or under a socket call."""
    components: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = under_socket = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        chain = [
            (m[1], re.sub(r":\d+$", "", m[2])) if (m := FRAME.match(frame)) else (frame, "?")
            for frame in stack.split(";")
        ]  # (function, file), outermost first
        total += samples
        named = [(name, where) for name, where in reversed(chain) if not SOCKET.search(where)]
        components[next((c for _, where in named if (c := component(where))), OTHER)] += samples
        leaves[next((f"{name} ({where})" for name, where in reversed(chain) if where != "?"), "?")] += samples
        under_socket += samples if any(SOCKET.search(where) for _, where in chain) else 0
    return {"components": components, "leaves": leaves, "samples": total, "under_socket": under_socket}


def parse_strace(text: str) -> dict[str, tuple[int, int]]:
    """`strace -c` summary: {syscall: (calls, errors)}."""
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) in (5, 6) and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] != "total":
            calls[parts[-1]] = (int(parts[3]), int(parts[4]) if len(parts) == 6 else 0)
    return calls


def parse_perf(text: str) -> list[tuple[str, int]]:
    """`perf report --stdio -n` rows: (what, samples)."""
    return [(m[2], int(m[1])) for m in re.finditer(r"^\s+[\d.]+%\s+(\d+)\s+(.+?)\s*$", text, re.MULTILINE)]


def shares(counts: list[tuple[str, int]], total_ms: float) -> list[dict]:
    total = sum(n for _, n in counts) or 1
    return [{"name": name, "samples": n, "share": n / total, "ms": total_ms * n / total} for name, n in counts]
