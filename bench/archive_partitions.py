"""Do day partitions pay for the archive's retention? (issue 21, 1)
`python -m bench.archive_partitions [--days 30] [--per-day 5000] [--reads 2000]`.

Two layouts of the same rows on one PostgreSQL (127.0.0.1:5432 where it answers, a fresh
database; else a throwaway cluster, tests/support/postgres.py), filled with the same orders
spread over `--days` days:

- `table` (the baseline, what the archive is): `archived_orders` as app/archive/schema.py makes
  it; retention is the archive's own `delete_before` (1,000 rows a transaction), then a VACUUM
  to take back the dead rows;
- `partitions`: the same columns partitioned by day on `created`; retention drops the oldest
  day's partition. The primary key must then include `created`, so PostgreSQL cannot keep a
  request_uid unique across days, and a poll by request_uid probes every partition's index.

Printed, as ratios to `table` measured in the same run: the fill (rows/s), retention of one day
(wall time and WAL bytes, the VACUUM included), and a poll by request_uid (p50, p99).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import sqlalchemy as sa

from app.archive import Archive
from app.archive.schema import migrate, orders
from tests.support import postgres

DAY = 86400.0
RECORD = json.dumps(
    {"request_uid": "", "status": "placed", "location_id": "loc-001", "body": "x" * 1400, "pos_order_id": "P-000001"}
)  # about an order's archived record
HISTORY = json.dumps([json.dumps({"at": "2026-12-07T10:00:00.000Z", "what": "placed", "by": "web"})] * 4)


def _rows(days: int, per_day: int, start: float):
    for day in range(days):
        for index in range(per_day):
            uid = f"o-{day:02d}-{index:06d}"
            yield {
                "request_uid": uid,
                "location_id": f"loc-{index % 50:03d}",
                "created": start + day * DAY + index,
                "status": "placed",
                "fp": "f" * 64,
                "record": RECORD.replace('""', f'"{uid}"', 1),
                "history": HISTORY,
                "moved_at": start + day * DAY + index + 1,
            }


def _partitioned(conn: sa.Connection, days: int, start: float) -> None:
    conn.execute(
        sa.text(
            'CREATE TABLE p_orders (request_uid varchar(128) COLLATE "C" NOT NULL, location_id varchar(128) NOT NULL, '
            "created double precision NOT NULL, status varchar(32) NOT NULL, fp varchar(64) NOT NULL, "
            "record text NOT NULL, history text NOT NULL, moved_at double precision NOT NULL, "
            "PRIMARY KEY (request_uid, created)) "
            "PARTITION BY RANGE (created)"
        )
    )
    conn.execute(sa.text("CREATE INDEX p_orders_by_location ON p_orders (location_id, created, request_uid)"))
    for day in range(days):
        conn.execute(
            sa.text(
                f"CREATE TABLE p_orders_{day:02d} PARTITION OF p_orders "
                f"FOR VALUES FROM ({start + day * DAY}) TO ({start + (day + 1) * DAY})"
            )
        )


def _wal(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar() or 0)


def _fill(engine: sa.Engine, table: sa.TableClause | sa.Table, rows: list[dict]) -> float:
    started = time.perf_counter()
    for offset in range(0, len(rows), 1000):
        with engine.begin() as conn:
            conn.execute(table.insert(), rows[offset : offset + 1000])
    return len(rows) / (time.perf_counter() - started)


def _polls(engine: sa.Engine, table: str, uids: list[str]) -> list[float]:
    query = sa.text(f"SELECT status, record FROM {table} WHERE request_uid = :uid")  # noqa: S608 - our two table names
    out = []
    with engine.connect() as conn:
        for uid in uids:
            started = time.perf_counter()
            conn.execute(query, {"uid": uid}).fetchall()
            out.append((time.perf_counter() - started) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def measure(url: str, days: int, per_day: int, reads: int) -> dict[str, dict[str, float]]:
    start = DAY * 20_700  # a day boundary (2026-09-05)
    rows = list(_rows(days, per_day, start))
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    archive = Archive(url)
    migrate(archive.engine, time.time())
    with engine.begin() as conn:
        _partitioned(conn, days, start)
    p_orders = sa.table("p_orders", *(sa.column(c.name) for c in orders.columns))
    out: dict[str, dict[str, float]] = {"table": {}, "partitions": {}}
    out["table"]["fill rows/s"] = _fill(engine, orders, rows)
    out["partitions"]["fill rows/s"] = _fill(engine, p_orders, rows)
    uids = [random.Random(7).choice(rows)["request_uid"] for _ in range(reads)]
    for name, table in (("table", "archived_orders"), ("partitions", "p_orders")):
        _polls(engine, table, uids[:200])  # warm the cache
        polls = _polls(engine, table, uids)
        out[name]["poll p50 ms"], out[name]["poll p99 ms"] = statistics.median(polls), _p(polls, 0.99)
    with engine.connect() as conn:
        wal = _wal(conn)
    started = time.perf_counter()
    deleted = archive.delete_before(start + DAY, batch=1000, batches=10_000)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM archived_orders"))
        out["table"]["retention of a day, s"] = time.perf_counter() - started
        out["table"]["retention WAL MB"] = (_wal(conn) - wal) / 1e6
        wal, started = _wal(conn), time.perf_counter()
        conn.execute(sa.text("DROP TABLE p_orders_00"))
        out["partitions"]["retention of a day, s"] = time.perf_counter() - started
        out["partitions"]["retention WAL MB"] = (_wal(conn) - wal) / 1e6
    assert deleted == per_day, deleted
    archive.engine.dispose()
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    with postgres.database() as url:
        out = measure(url, args.days, args.per_day, args.reads)
    print(f"{args.days} days × {args.per_day} orders; ratios: partitions / table (the archive as it is), same run")
    print(f"{'':28} {'table':>12} {'partitions':>12} {'ratio':>8}")
    for key in out["table"]:
        base, other = out["table"][key], out["partitions"][key]
        print(f"{key:28} {base:12.3f} {other:12.3f} {other / base if base else float('nan'):8.2f}")


if __name__ == "__main__":
    main()
