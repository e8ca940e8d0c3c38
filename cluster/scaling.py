"""`python -m cluster.scaling [--short] [--seconds N] [--pos-ms 200] [--out FILE]`: the figures
docs/SCALING.md's model needs, measured in one run on the cluster's hosts (cluster/hosts.py).

1. web: closed-loop submits (bench/loadgen.py, one generator per web host) against 1, then 2
   web hosts; the POS answers in --pos-ms, within the inline budget (placed inline).
2. workers: INLINE_BUDGET_MS=1, so every order is handed to a worker; a burst of submits
   queues them; the drain rate with 1, then 2 worker hosts is the workers' throughput.
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
        spec = {"url": f"{url}/posnext/order/submit", "kind": "submit", "clients": clients, "seconds": seconds,
                "warmup": 2.0, "shared_id": SHARED_ID, "token": token, "timeout": 30, "ramp": 1.0}
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
                                      stdout=subprocess.PIPE, text=True))
    return [json.loads(p.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1]) for p in procs]


def measure_web(top: Topology, hosts: int, clients: int, seconds: float) -> dict:
    urls = top.web_urls()[:hosts]
    labels = ["web1", "web2"][:hosts]
    calls, cpu = redis_calls(top), cpu_of(top, labels)
    results = loadgen(urls, top.token(), clients, seconds)
    orders = sum(r["total"] for r in results)
    return {"web_hosts": hosts, "clients_per_host": clients, "orders_per_s": round(sum(r["rps"] for r in results), 1),
            "p50_ms": max(r["p50_ms"] for r in results), "p99_ms": max(r["p99_ms"] for r in results),
            "statuses": [r["statuses"] for r in results],
            "redis_commands_per_order": round((redis_calls(top) - calls) / max(orders, 1), 1),
            "web_cpu_ms_per_order": round((cpu_of(top, labels) - cpu) * 1000 / max(orders, 1), 2)}


def measure_workers(top: Topology, hosts: int, burst_s: float) -> dict:
    names = ["worker1", "worker2"][:hosts]
    calls, cpu = redis_calls(top), cpu_of(top, names)
    started = time.time()
    results = loadgen(top.web_urls(), top.token(), 16, burst_s)
    queued = sum(r["statuses"].get("202", 0) for r in results)
    peak = top.store.open_count()
    while top.store.open_count() > 0 and time.time() - started < burst_s + 600:
        time.sleep(0.2)
    elapsed = time.time() - started
    orders = sum(r["total"] for r in results)
    return {"worker_hosts": hosts, "orders_handed_off": queued, "open_at_end_of_burst": peak,
            "orders_per_s": round(orders / elapsed, 1), "drain_seconds": round(elapsed, 1),
            "redis_commands_per_order": round((redis_calls(top) - calls) / max(orders, 1), 1),
            "worker_cpu_ms_per_order": round((cpu_of(top, names) - cpu) * 1000 / max(orders, 1), 2)}


def redis_benchmark(requests: int) -> dict:
    server = EmbeddedRedis(appendonly=False).start()
    try:
        out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-q", "-n", str(requests), "-c", "50",
                              "-t", "set,get,incr,lpush,rpop,hset,zadd", "--csv"],
                             capture_output=True, text=True, timeout=600, check=True).stdout
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
    top = Topology(tempfile.mkdtemp(prefix="posbridge-scaling-"))
    figures: dict = {"pos_latency_ms": args.pos_ms, "seconds": seconds}
    try:
        top.start()
        top.knobs("*", latency_ms=args.pos_ms, latency_jitter_ms=0)
        figures["web"] = [measure_web(top, hosts, args.clients, seconds) for hosts in (1, 2)]
        for name in ("web1", "web2"):  # every order to a worker from here on
            top.stack.stop(name)
            top.start_web(name, INLINE_BUDGET_MS="1")
        top.stack.stop("worker2")
        one = measure_workers(top, 1, seconds)
        top.start_worker("worker2")
        top.wait_for_workers(2, 90)
        figures["workers"] = [one, measure_workers(top, 2, seconds)]
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
