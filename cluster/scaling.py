"""`python -m cluster.scaling [--short] [--seconds N] [--pos-ms 200] [--out FILE]`: the figures
docs/SCALING.md's model needs, measured in one run on the cluster's hosts (cluster/hosts.py).

1. web: closed-loop submits (bench/loadgen.py, one generator per web host) against 1, then 2
   web hosts; the POS answers in --pos-ms, within the inline budget (placed inline).
2. workers: with the workers stopped and the POS answering 429, a burst of submits is handed
   off and queued; the POS back, 1 (then 2) worker hosts start; their drain rate is the
   workers' throughput.
3. per order: Redis commands (INFO commandstats on the primary), web and worker CPU seconds
   (psutil over each process tree).
4. redis-benchmark against a fresh redis-server on loopback, on the same box.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import psutil

from bin.stack import EmbeddedRedis
from cluster.hosts import WEB_PORT, Topology
from reliability.cluster import SHARED_ID


def tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def cpu_of(top: Topology, labels: list[str]) -> float:
    return sum(tree_cpu(top.stack.processes[label].pid) for label in labels if label in top.stack.processes)


def redis_calls(top: Topology) -> int:
    stats = top.group.primary().client().info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))


def loadgen(urls: list[str], token: str, clients: int, seconds: float) -> list[dict]:
    """One bench/loadgen.py process per URL, all at once; their summaries."""
    procs = []
    for url in urls:
        spec = {
            "url": f"{url}/posnext/order/submit",
            "kind": "submit",
            "clients": clients,
            "seconds": seconds,
            "warmup": 2.0,
            "shared_id": SHARED_ID,
            "token": token,
            "timeout": 30,
            "ramp": 1.0,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen", json.dumps(spec)], stdout=subprocess.PIPE, text=True
            )
        )
    return [json.loads(p.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1]) for p in procs]


def measure_web(top: Topology, hosts: int, clients: int, seconds: float) -> dict:
    urls = top.web_urls()[:hosts]
    labels = ["web1", "web2"][:hosts]
    calls, cpu, redis_cpu = redis_calls(top), cpu_of(top, labels), redis_cpu_s(top)
    results = loadgen(urls, top.token(), clients, seconds)
    orders = sum(r["total"] for r in results)
    return {
        "web_hosts": hosts,
        "clients_per_host": clients,
        "orders_per_s": round(sum(r["rps"] for r in results), 1),
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "statuses": [r["statuses"] for r in results],
        "redis_commands_per_order": round((redis_calls(top) - calls) / max(orders, 1), 1),
        "redis_cpu_ms_per_order": round((redis_cpu_s(top) - redis_cpu) * 1000 / max(orders, 1), 3),
        "web_cpu_ms_per_order": round((cpu_of(top, labels) - cpu) * 1000 / max(orders, 1), 2),
    }


def measure_workers(top: Topology, hosts: int, burst_s: float) -> dict:
    """Orders queued while no worker runs (the POS answers 429 to the web's inline attempts),
    then `hosts` workers started: the rate at which they drain the queue."""
    names = ["worker1", "worker2"]
    # beat off: its sweep re-drives every overdue open order each SWEEP_SECONDS, so a queue that
    # waits for its workers fills with re-drives (main's engine: ~N x beats x 1/s) and the drain
    # would measure those, not orders
    for name in (*names, "beat1", "beat2"):
        top.stack.stop(name, timeout=30)
    top.knobs("*", error_rate=1, error_status=429)
    results = loadgen(top.web_urls(), top.token(), 16, burst_s)
    queued = top.store.indexes.open_count()
    top.knobs("*", error_rate=None, error_status=None)
    for name in names[:hosts]:
        top.start_worker(name)
    top.wait_for_workers(hosts, 90)
    calls, cpu, redis_cpu = redis_calls(top), cpu_of(top, names[:hosts]), redis_cpu_s(top)
    started = time.time()
    while top.store.indexes.open_count() > 0 and time.time() - started < 900:
        time.sleep(0.1)
    elapsed = time.time() - started
    return {
        "worker_hosts": hosts,
        "orders_queued": queued,
        "answers": [r["statuses"] for r in results],
        "orders_per_s": round(queued / elapsed, 1),
        "drain_seconds": round(elapsed, 1),
        "redis_commands_per_order": round((redis_calls(top) - calls) / max(queued, 1), 1),
        "redis_cpu_ms_per_order": round((redis_cpu_s(top) - redis_cpu) * 1000 / max(queued, 1), 3),
        "worker_cpu_ms_per_order": round((cpu_of(top, names[:hosts]) - cpu) * 1000 / max(queued, 1), 2),
    }


def wait_cost(top: Topology, rounds: int) -> dict:
    """What DURABILITY=replica adds to a final write: a write alone, and a write then WAIT 1,
    from the bridge to the primary (median and p99, ms)."""
    client = top.group.primary().client()

    def timed(with_wait: bool) -> list[float]:
        samples = []
        for index in range(rounds):
            started = time.perf_counter()
            client.set(f"scaling:wait:{index}", "x")
            if with_wait:
                client.execute_command("WAIT", 1, 1000)
            samples.append((time.perf_counter() - started) * 1000)
        return sorted(samples)

    alone, waited = timed(False), timed(True)
    client.delete(*[f"scaling:wait:{i}" for i in range(rounds)])
    pick = lambda values, share: round(values[min(len(values) - 1, int(share * len(values)))], 3)  # noqa: E731
    return {
        "write_ms_p50": pick(alone, 0.5),
        "write_ms_p99": pick(alone, 0.99),
        "write_then_wait_ms_p50": pick(waited, 0.5),
        "write_then_wait_ms_p99": pick(waited, 0.99),
    }


def redis_cpu_s(top: Topology) -> float:
    info = top.group.primary().client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_benchmark(requests: int) -> dict:
    server = EmbeddedRedis(appendonly=False).start()
    try:
        out = subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(server.port),
                "-q",
                "-n",
                str(requests),
                "-c",
                "50",
                "-t",
                "set,get,incr,lpush,rpop,hset,zadd",
                "--csv",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
    finally:
        server.stop()
    figures = {}
    for line in out.splitlines()[1:]:
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2:
            figures[cells[0]] = float(cells[1])
    return figures


def run(args: argparse.Namespace) -> dict:
    seconds = args.seconds or (5 if args.short else 30)
    # deadlines far enough that a queue waiting for its workers is placed, not expired
    top = Topology(tempfile.mkdtemp(prefix="posbridge-scaling-"), ORDER_MAX_ASYNC_SECONDS="900")
    figures: dict = {"pos_latency_ms": args.pos_ms, "seconds": seconds}
    try:
        top.start()
        top.knobs("*", latency_ms=args.pos_ms, latency_jitter_ms=0)
        figures["web"] = [measure_web(top, hosts, args.clients, seconds) for hosts in (1, 2)]
        figures["workers"] = [measure_workers(top, hosts, seconds) for hosts in (1, 2)]
        figures["durability_replica_wait"] = wait_cost(top, 300 if args.short else 3000)
    finally:
        top.stop()
    figures["redis_benchmark_ops_per_s"] = redis_benchmark(20000 if args.short else 200000)
    figures["web_port"] = WEB_PORT
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="5 s per measurement (proves the harness only)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 30, --short 5)")
    parser.add_argument("--pos-ms", type=int, default=200, help="the POS simulator's latency (default 200)")
    parser.add_argument("--clients", type=int, default=32, help="closed-loop clients per web host (default 32)")
    parser.add_argument("--out", metavar="FILE", help="write the figures there as JSON")
    args = parser.parse_args(argv)
    figures = run(args)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
