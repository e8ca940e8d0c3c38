"""`python -m cluster [--short] [--orders N] [--rate R] [--rounds K] [--seed S]`: the cluster run.

1. make eight hosts (network namespaces on one bridge) and start on them: Redis primary +
   replica + three Sentinels, the POS simulator, two gunicorns with a beat each, two Celery
   workers; DURABILITY=replica;
2. drive the reliability harness's scenarios (reliability.load), PAR's client spreading them
   over both web hosts, while cluster/faults.py injects every kind, round after round, until
   the orders are sent and each kind has run `--rounds` times;
3. settle past every deadline; check reliability.invariants.check_all plus the cluster's own
   (cluster/invariants.py); print the table; exit 1 on any violation.

Needs root (ip netns, iptables), faketime and iptables (cluster/deps.sh installs them).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer

from cluster.faults import HOST_KINDS, REDIS_KINDS, Injector
from cluster.hosts import Topology
from cluster.invariants import (
    check_accepted_kept,
    check_failover_finals,
    check_fault_counts,
    excuse_lost_delivery_marks,
)
from cluster.netns import GATEWAY, Net
from harness.report import as_json, fault_errors, write_json
from reliability import archive, archive_checks, report
from reliability.cluster import LOCATIONS, SHARED_ID
from reliability.invariants import Evidence, check_all, stale_reset
from reliability.load import Client, Journal, Scenarios, drive
from reliability.receiver import Receiver


class SpreadClient(Client):
    """PAR's client over several web hosts: each request to the next one (round robin)."""

    def __init__(self, base_urls: list[str], token: str, journal: Journal):
        self._urls = itertools.cycle(base_urls)
        self._lock = threading.Lock()
        super().__init__(base_urls[0], token, journal)

    @property
    def base_url(self) -> str:
        with self._lock:
            return next(self._urls)

    @base_url.setter
    def base_url(self, value: str) -> None:
        pass  # the cycle is the address


class BridgeReceiver(Receiver):
    """The reliability harness's callback receiver, listening on the bridge so worker hosts reach it."""

    def __init__(self, digest_key: bytes):
        super().__init__(digest_key)
        handler = self.server.RequestHandlerClass
        self.server.server_close()
        self.server = ThreadingHTTPServer((GATEWAY, 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="callbacks", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{GATEWAY}:{self.server.server_address[1]}"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI run: one round of each fault, ~150 orders")
    parser.add_argument("--orders", type=int, help="scenarios to send at least (default 3000, --short 150)")
    parser.add_argument("--rate", type=float, default=8.0, help="scenarios started per second (default 8)")
    parser.add_argument("--rounds", type=int, help="rounds of every fault kind at least (default 5, --short 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--harsh",
        action="store_true",
        help="kill the next primary as soon as the returned node's link is up, before it holds "
        "a full copy (what only DURABILITY=replica's WAIT survives)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=REDIS_KINDS + HOST_KINDS,
        help="leave this fault kind out (repeatable; the report says which were left out)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) even when green")
    parser.add_argument("--report", metavar="FILE", help="also write the checks and the summary there, as JSON")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def records_of(top: Topology, journal: Journal) -> dict:
    with journal.lock:
        uids = list(journal.planned)
    return {uid: top.store.get(uid) for uid in uids}


def resends_of(top: Topology, receiver, checks) -> dict:
    """For each callback still counted as sent twice: every delivery the receiver saw and the
    order's history as the end state holds it (the evidence a finding needs: was the first
    delivery recorded, and on which node's history did it survive)."""
    out: dict = {}
    for check in checks:
        if not check.name.startswith("no callback delivered twice automatically"):
            continue
        for violation in check.violations:
            uid = violation.split(":", 1)[0]
            try:
                history = top.store.history(uid)
            except Exception as exc:  # noqa: BLE001 - evidence only
                history = [{"error": type(exc).__name__}]
            out[uid] = {
                "deliveries": [
                    {"at": round(d.at, 3), "end": round(d.end, 3), "answered": d.answered, "key": d.key}
                    for d in sorted(receiver.for_uid(uid), key=lambda d: d.at)
                ],
                "history": history,
            }
    return out


def run(args: argparse.Namespace) -> int:
    orders = args.orders or (150 if args.short else 3000)
    rounds = args.rounds or (1 if args.short else 5)
    why = Net.available()
    if why:
        print(f"cannot run the cluster harness: {why}", file=sys.stderr)
        return 2
    log(f"kernel sch_netem: {'yes' if Net.netem() else 'no (latency through cluster/proxy.py)'}")
    work_dir = tempfile.mkdtemp(prefix="posbridge-cluster-")
    top = Topology(work_dir)
    receiver: BridgeReceiver | None = None
    journal = Journal()
    ok = False
    log(f"work directory {work_dir}; making the hosts and starting the stack")
    try:
        top.start()
        receiver = BridgeReceiver(SHARED_ID[:10].encode()).start()
        client = SpreadClient(top.web_urls(), top.token(), journal)
        for url in top.web_urls():  # menus cached before the load
            for location in ("loc-001", "loc-002", "loc-003"):
                client.session().get(
                    f"{url}/posnext/menus",
                    params={"location_id": location},
                    timeout=30,
                    headers={"Authorization": f"Bearer {client.token}"},
                ).raise_for_status()
        injector = Injector(top, journal, args.seed, args.short, rounds, harsh=args.harsh, skip=tuple(args.skip))
        reads = archive.Reads(client, top.redis, args.seed).start()  # polls answered orders throughout
        log(
            f"load: {orders} scenarios at {args.rate}/s; faults: {rounds} round(s) of {injector.kinds}"
            + (f"; left out: {tuple(args.skip)}" if args.skip else "")
        )
        started = time.time()
        injector.start()
        scenarios = Scenarios(client, args.seed)
        try:
            count = drive(scenarios, journal, receiver.base_url, orders / args.rate, args.rate, args.seed)
            extra = 0
            while not injector.done() and extra < 40:  # more load while the last rounds finish
                count += drive(scenarios, journal, receiver.base_url, 15, args.rate, args.seed + 1000 + extra)
                extra += 1
        finally:
            injector.stop()
        top.clear_knobs(LOCATIONS)
        log(f"{count} scenarios, {len(journal.calls)} requests; faults {injector.count()}; settling")
        records = records_of(top, journal)
        top.settle(max((o.deadline for o in records.values() if o is not None), default=0.0))
        records = records_of(top, journal)
        reads.stop()
        evidence = Evidence(
            journal,
            receiver,
            injector.windows,
            records,
            top.ledger(),
            {uid for uid, _ in top.store.indexes.dead_callbacks(limit=100000)},
        )
        checks, stats = check_all(evidence, time.time())
        more, stats["archive"] = archive_checks.checks(journal, reads, injector.windows, top.redis, top.archive)
        checks.extend(more)
        resent = sum(
            excuse_lost_delivery_marks(c, receiver, injector.failovers, injector.windows)
            for c in checks
            if c.name.startswith("no callback delivered twice automatically")
        )
        checks.append(check_failover_finals(injector.failovers, records))
        checks.append(check_accepted_kept(injector.failovers))
        checks.append(check_fault_counts(injector.count(), injector.kinds, rounds))
        if injector.errors:
            checks.append(fault_errors(injector.errors))
        summary = report.summary(journal, records, evidence, injector, stats, time.time() - started)
        summary["callbacks_resent_after_a_lost_delivery_record"] = resent
        summary["callbacks_sent_again"] = resends_of(top, receiver, checks)
        summary["fault_windows"] = [
            {"kind": w.kind, "start": round(w.start, 3), "end": round(w.end, 3), "detail": w.detail}
            for w in injector.windows
        ]
        summary["stale_connection_resets"] = sum(  # no answer, excused: reliability/faults.py STALE_CONNECTIONS
            1 for call in journal.calls if call.status is None and stale_reset(call, injector.windows)
        )
        summary["failovers"] = [
            {
                "kind": f.kind,
                "old": f.old[0],
                "new": f.new[0] if f.new else None,
                "finals_read_back": len(f.after),
                "answered_read_back": len(f.accepted),
            }
            for f in injector.failovers
        ]
        print(report.table(checks, summary, args, round(orders / args.rate / 60, 2)))
        for path in filter(None, (os.path.join(work_dir, "report.json"), args.report)):
            write_json(path, as_json(checks, summary))
        ok = all(not c.violations for c in checks)
    except Exception:
        stack = getattr(top, "stack", None)  # none before the hosts were made
        for label in list(stack.processes if stack else []):
            print(f"--- {label}\n{top.log_tail(label)}", file=sys.stderr)
        raise
    finally:
        if receiver:
            receiver.stop()
        top.stop()
        if ok and not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            log(f"logs kept in {work_dir}")
    return 0 if ok else 1


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
