"""The archive's figures (issue 21, 6): `python -m bench.archive_figures [--orders N] [--real N]
[--archive sqlite|postgresql|both] [--out PATH]`.

On a real redis-server (no persistence) and the app itself (the fake POS places inline):
`--real` sample orders are submitted through the app (their Redis bytes per order are read from
INFO used_memory), then copied under new request_uids up to `--orders` (the same record, history
and indexes; a score a millisecond apart each). Then, for each archive: polling and the recovery
list with every order in Redis; the mover over the oldest half; the same reads with half moved
(pages cross from the archive into Redis); the mover over the rest (wall and CPU per order:
this process's, Redis's); what Redis holds after it; the archive's bytes per order; the reads
with every order archived. PostgreSQL: the server on 127.0.0.1:5432 where one answers (a fresh
database), else a throwaway cluster (tests/support/postgres.py)."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from contextlib import ExitStack

import redis as redis_lib
import sqlalchemy as sa

from app import create_app, jsonio
from app.archive import Archive
from app.archive.mover import ArchiveMover
from app.archive.schema import migrate
from app.settings import load_settings
from bin.sample import encode, sample_order
from bin.stack import EmbeddedRedis
from bin.token import make_token
from tests.support import postgres
from tests.support.fakes import FakePos, FakeTasks

SECRET, SHARED = "bench-jwt-secret-0123456789abcdef0123", "BenchShared-0123456789"
ENV = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "POS_BASE_URL": "http://127.0.0.1:1",
    "POS_API_TOKEN": "bench",
    "PAR_SHARED_ID": SHARED,
    "PAR_JWT_SECRET": SECRET,
    "DURABILITY": "none",
    "INLINE_BUDGET_MS": "2000",
}


def used(client) -> int:
    return int(client.info("memory")["used_memory"])


def redis_cpu(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


def timed(call, count: int) -> dict:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return ms(samples)


def place(app, client, real: int) -> None:
    web = app.test_client()
    token = make_token(SECRET)
    for index in range(real):
        data, headers = encode(sample_order(uid=f"a-{index}"), SHARED, token)
        assert web.post("/posnext/order/submit", data=data, headers=headers).status_code == 200


def copy(client, real: int, total: int) -> None:
    """Orders real..total-1: copies of the placed ones under new uids, a millisecond apart."""
    sources = []
    for index in range(real):
        uid = f"a-{index}"
        sources.append(
            (
                client.hgetall(f"order:{uid}"),
                client.lrange(f"order:{uid}:history", 0, -1),
                client.zscore("orders:by_time", uid),
            )
        )
    top = max(score for _, _, score in sources)
    pipe = client.pipeline(transaction=False)
    for index in range(real, total):
        fields, history, _ = sources[index % real]
        uid = f"a-{index}"
        doc = jsonio.loads(fields[b"doc"])
        doc["request_uid"] = uid
        pipe.hset(f"order:{uid}", mapping={**fields, b"doc": jsonio.dumps(doc)})
        pipe.rpush(f"order:{uid}:history", *history)
        score = top + (index - real + 1) / 1000
        pipe.zadd("orders:by_time", {uid: score})
        pipe.zadd("orders:loc:loc-001", {uid: score})
        pipe.zadd(f"orders:loc:loc-001:{doc['status']}", {uid: score})  # the status filter's index
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()


def reads(app, total: int, count: int) -> dict:
    web = app.test_client()
    auth = {"Authorization": f"Bearer {make_token(SECRET)}"}
    rng = random.Random(7)

    def poll():
        assert web.get(f"/posnext/orders/a-{rng.randrange(total)}", headers=auth).status_code == 200

    pages: list[str | None] = []

    def page():
        query = "/posnext/orders?location_id=loc-001&limit=100&since=2000-01-01T00:00:00Z"
        if pages and pages[-1]:
            query = f"/posnext/orders?location_id=loc-001&limit=100&cursor={pages[-1]}"
        answer = web.get(query, headers=auth).json
        assert len(answer["orders"]) == 100
        pages.append(answer["next"])

    return {"poll": timed(poll, count), "recovery_page_of_100": timed(page, min(count, total // 100 - 1))}


def archive_bytes(archive: Archive, path: str | None) -> int:
    with archive.engine.begin() as conn:  # table, indexes and TOAST; SQLite: the file, its WAL folded in
        if conn.dialect.name == "postgresql":
            return int(conn.execute(sa.text("SELECT pg_total_relation_size('archived_orders')")).scalar_one())
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path or "")


def one(kind: str, url: str, path: str | None, client, args) -> dict:
    client.flushall()
    archive = Archive(url, timeout=30.0)
    migrate(archive.engine, time.time())
    app = create_app(load_settings(ENV), redis_client=client, pos=FakePos(), tasks=FakeTasks(), archive=archive)
    store = app.extensions["posbridge"].store
    empty = used(client)
    place(app, client, args.real)
    placed = used(client)
    copy(client, args.real, args.orders)
    full = used(client)
    on_redis = reads(app, args.orders, args.reads)
    mover = ArchiveMover(store, archive, after_seconds=-3600, batch=args.batch)  # every order is due
    wall, cpu, rcpu = time.perf_counter(), time.process_time(), redis_cpu(client)
    half = mover.run(max_batches=max(1, args.orders // 2 // args.batch))  # the oldest half moved
    wall, cpu, rcpu = time.perf_counter() - wall, time.process_time() - cpu, redis_cpu(client) - rcpu
    across = reads(app, args.orders, args.reads)  # the list's pages cross from the archive into Redis
    started, cpu_started, rcpu_started = time.perf_counter(), time.process_time(), redis_cpu(client)
    rest = mover.run(max_batches=10**6)
    wall += time.perf_counter() - started
    cpu += time.process_time() - cpu_started
    rcpu += redis_cpu(client) - rcpu_started
    run = rest
    run.moved += half.moved
    marked = used(client)
    for key in client.scan_iter(match="order:*:moved", count=5000):
        client.delete(key)
    after = used(client)
    size = archive_bytes(archive, path)
    on_archive = reads(app, args.orders, args.reads)
    archive.engine.dispose()
    return {
        "archive": kind,
        "orders": args.orders,
        "placed_through_the_app": args.real,
        "redis_bytes_per_order": round((placed - empty) / args.real),
        "redis_bytes_per_order_with_copies": round((full - empty) / args.orders),
        "moved": run.moved,
        "left_in_redis": run.backlog,
        "mover_wall_ms_per_order": round(wall * 1000 / run.moved, 4),
        "mover_cpu_ms_per_order": round(cpu * 1000 / run.moved, 4),
        "redis_cpu_ms_per_order": round(rcpu * 1000 / run.moved, 4),
        "redis_bytes_after_move_with_marks": marked - empty,
        "redis_bytes_after_move": after - empty,
        "archive_bytes_per_order": round(size / run.moved),
        "reads_on_redis": on_redis,
        "reads_half_moved": across,
        "reads_on_archive": on_archive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.archive_figures")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--archive", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    server = EmbeddedRedis(appendonly=False).start()
    client = redis_lib.Redis.from_url(server.url)
    figures = []
    try:
        with ExitStack() as stack:
            if args.archive in ("sqlite", "both"):
                path = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "archive.sqlite3")
                figures.append(one("sqlite", f"sqlite:///{path}", path, client, args))
            if args.archive in ("postgresql", "both"):
                url = stack.enter_context(postgres.database())
                figures.append(one("postgresql", url, None, client, args))
    finally:
        server.stop()
    text = json.dumps({"measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": figures}, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
