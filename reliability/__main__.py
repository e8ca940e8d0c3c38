"""`python -m reliability [--short] [--minutes N | --orders N] [--seed S] [--adapter square]`: the reliability run.

The full run of issue 10 (>= 10,000 orders): `python -m reliability --orders 10000`.

1. start the stack (embedded redis-server with AOF, possim with loc-002 ignoring not_after,
   gunicorn, 2 Celery workers, 2 beats) and the callback receiver (some deliveries trickled);
2. drive orders while faults are injected on a process track and a POS track;
3. clear the faults and let the system settle past every order's deadline, its late-placement
   lookups and its callbacks;
4. check the invariants against the order store, the simulator's ledger and the receiver;
5. fuzz the served OpenAPI document with schemathesis (zero 5xx, zero 4xx that changed state);
6. print the table; exit 1 on any violation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from bin.stack import ROOT
from harness.report import as_json, fault_errors, write_json
from reliability import archive, archive_checks, docs, report
from reliability.cluster import LATE_LOCATIONS, LOCATIONS, Cluster, ensure_faketime
from reliability.faults import Injector
from reliability.invariants import FINAL, Evidence, check_all
from reliability.load import Client, Journal, Scenarios, drive
from reliability.receiver import Receiver

SETTLE_MAX = 120.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI run: under 2 minutes, hundreds of orders")
    parser.add_argument("--minutes", type=float, help="minutes of load with faults (default 7, --short 0.6)")
    parser.add_argument(
        "--orders",
        type=int,
        metavar="N",
        help="instead of minutes: load until N scenarios that submit an order have started "
        "(the full run: --orders 10000, about 23 min of load at the default rate)",
    )
    parser.add_argument("--rate", type=float, default=8.0, help="scenarios started per second (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the order mix and the fault schedule")
    parser.add_argument("--fuzz", type=int, help="schemathesis requests (default 5000, --short 300; 0: skip)")
    parser.add_argument(
        "--adapter",
        choices=("rest", "square"),
        default="rest",
        help="the POS adapter the whole stack runs (POS_ADAPTER; square: possim's Square mode, "
        "which has no not_after and voids by POS order id)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, AOF) even when green")
    parser.add_argument("--report", metavar="FILE", help="also write the checks and the summary there, as JSON")
    parser.add_argument(
        "--doc",
        metavar="FILE",
        help="write the markdown report there (default: docs/RELIABILITY.md after a full run, none after --short)",
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def settle(cluster: Cluster, journal: Journal, receiver: Receiver, started: float) -> float:
    """Wait until no order is open, still looked up for a late placement or owing its callback,
    and every deadline (plus a POS call) has passed; or, with some still busy, until the latest
    may still be pending (deadline + RECONCILE_SECONDS + slack, reliability.invariants), at
    most SETTLE_MAX."""
    evidence = Evidence(journal, receiver, [], {}, [], set(), settings=cluster.settings)
    records = {uid: o for uid, o in _records(cluster, journal).items() if o is not None}
    call = float(cluster.settings["POS_CONNECT_TIMEOUT"]) + float(cluster.settings["POS_READ_TIMEOUT"])
    latest = max((evidence.deadline(uid, o) for uid, o in records.items()), default=0.0)
    latest_pending = max((evidence.reconcile_bound(uid, o) for uid, o in records.items()), default=0.0)
    end = min(time.time() + SETTLE_MAX, max(latest_pending + 1.0, time.time() + call + 1.0))
    while time.time() < end:
        if not _busy(cluster, records) and time.time() > latest + call + 1.0:
            break
        time.sleep(0.5)
    return time.time() - started


def _finals(cluster: Cluster, records: dict) -> tuple[dict[str, float], dict[str, str]]:
    """When each final order became final (its history, on the store's clock), and who wrote it."""
    at_, by = {}, {}
    for uid, order in records.items():
        if order is None or not order.final:
            continue
        entry = next((e for e in cluster.store.history(uid) if e.get("status") in FINAL), None)
        if entry and entry.get("at"):
            at_[uid], by[uid] = float(entry["at"]), str(entry.get("by") or "")
    return at_, by


def _busy(cluster: Cluster, records: dict) -> bool:
    """Any of the run's orders not final, still looked up (`rc` open: a late placement may yet
    be voided) or owing its callback (`cb` held or owed): the fields of `order:{uid}`."""
    pipe = cluster.redis.pipeline(transaction=False)
    for uid in records:
        pipe.hmget(f"order:{uid}", "status", "rc", "cb")
    for status, rc, cb in pipe.execute():
        if status is not None and (status.decode() not in FINAL or rc == b"open" or cb in (b"held", b"owed")):
            return True
    return False


def _records(cluster: Cluster, journal: Journal) -> dict:
    with journal.lock:
        uids = list(journal.planned)
    return {uid: cluster.store.get(uid) for uid in uids}


def run(args: argparse.Namespace) -> int:
    minutes = args.minutes if args.minutes is not None else (0.6 if args.short else 7.0)
    if args.orders:
        minutes = round(args.orders / 0.91 / args.rate / 60, 1)  # about 91 % of scenarios submit an order
    if ensure_faketime() is None:
        log("faketime is missing and bin/ensure-faketime could not install it: the skewed_worker fault will fail")
    fuzz_count = args.fuzz if args.fuzz is not None else (300 if args.short else 5000)
    work_dir = tempfile.mkdtemp(prefix="posbridge-reliability-")
    server = archive.Server()  # the run's own PostgreSQL, as ARCHIVE_URL (reliability/archive.py)
    cluster = Cluster(work_dir, env={"POS_ADAPTER": args.adapter, **archive.env(server)})
    cluster.settings["POS_ADAPTER"] = args.adapter  # the checks judge a POS without void by key apart
    archived = archive.attach(cluster, server)
    trickle = 3 * float(cluster.settings["CALLBACK_TIMEOUT_SECONDS"])  # the sender must hang up long before
    receiver = Receiver(cluster.env["PAR_SHARED_ID"][:10].encode(), trickle_seconds=trickle).start()
    journal = Journal()
    log(f"work directory {work_dir}; starting the stack")
    ok = False
    try:
        server.start()
        cluster.start()
        client = Client(cluster.base_url, cluster.token, journal)
        reads = archive.Reads(client, cluster.redis, args.seed).start()
        for location in ("loc-001", "loc-002", "loc-003"):  # menus cached before the POS misbehaves
            client.session().get(
                f"{cluster.base_url}/posnext/menus",
                params={"location_id": location},
                headers={"Authorization": f"Bearer {cluster.token}"},
                timeout=30,
            ).raise_for_status()
        scenarios = Scenarios(client, args.seed)
        injector = Injector(
            cluster,
            args.seed,
            int(cluster.settings["INLINE_BUDGET_MS"]),
            short=args.short,
            journal=journal,
            scenarios=scenarios,
            callback_base=receiver.base_url,
        )
        size = f"{args.orders} orders (about {minutes} min)" if args.orders else f"{minutes} min"
        log(f"load: {size} at {args.rate} scenarios/s with faults (seed {args.seed})")
        started = time.time()
        injector.start()
        try:
            count = drive(scenarios, journal, receiver.base_url, minutes * 60, args.rate, args.seed, orders=args.orders)
        finally:
            injector.stop()
        cluster.clear_knobs(LOCATIONS)
        log(f"{count} scenarios, {len(journal.calls)} requests; faults {injector.count()}; settling")
        settle(cluster, journal, receiver, time.time())
        reads.stop()
        records = _records(cluster, journal)
        exited = cluster.exited()
        ledger = cluster.ledger_view()
        final_at, final_by = _finals(cluster, records)
        evidence = Evidence(
            journal,
            receiver,
            injector.windows,
            records,
            ledger["orders"],
            {uid for uid, _ in cluster.store.indexes.dead_callbacks(limit=100000)},
            pos_calls=ledger.get("calls", {}),
            settings=cluster.settings,
            final_at=final_at,
            exited=exited,
            final_by=final_by,
            found=cluster.found(),
            late_locations=LOCATIONS if args.adapter == "square" else LATE_LOCATIONS,
        )
        checks, stats = check_all(evidence, time.time())
        more, stats["archive"] = archive_checks.checks(journal, reads, injector.windows, cluster.redis, archived)
        checks.extend(more)
        if injector.errors:
            checks.append(fault_errors(injector.errors))
        if fuzz_count:
            from reliability import fuzz

            log(f"schemathesis: {fuzz_count} generated requests against /openapi.json")
            checks.extend(fuzz.run(cluster, fuzz_count, args.seed))
        summary = report.summary(journal, records, evidence, injector, stats, time.time() - started)
        print(report.table(checks, summary, args, minutes))
        for path in filter(None, (os.path.join(work_dir, "report.json"), args.report)):
            write_json(path, as_json(checks, summary))
        doc = args.doc or (None if args.short else str(ROOT / "docs" / "RELIABILITY.md"))
        if doc:
            docs.write(doc, as_json(checks, summary), " ".join(["python -m reliability", *sys.argv[1:]]))
            log(f"wrote {doc}")
        ok = all(not c.violations for c in checks)
    except Exception:
        for label in list(cluster.stack.processes):
            print(f"--- {label}\n{cluster.log_tail(label)}", file=sys.stderr)
        raise
    finally:
        cluster.stop()
        server.remove()
        receiver.stop()
        if ok and not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            log(f"logs and the AOF kept in {work_dir}")
    return 0 if ok else 1


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
