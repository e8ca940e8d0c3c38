"""The load generator: closed-loop HTTP clients on asyncio + aiohttp, in a process of its own.

`python -m bench.loadgen '<json spec>'` prints one JSON summary line (with no argument: one
spec a line on stdin, one summary a line on stdout, so a run starts it once). The spec names the
target (`url`), the request kind (`validate`, `bare` or `submit`), `clients` (each one a
keep-alive connection sending its next request as soon as the last answer is read),
`seconds` to measure after `warmup` seconds, and the credentials to sign requests with.
Every submit carries a new request_uid; bodies are built from one template before the run,
so the generator spends its CPU on the wire, not on building orders.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
import uuid

import aiohttp

from app import jsonio, signing
from bin.sample import sample_order

PLACEHOLDER = "uid-placeholder-0000000000"


class Requests:
    """Signed request bodies like PAR's, fast: the uid goes into a pre-encoded template."""

    def __init__(self, kind: str, shared_id: str, token: str, location_id: str = "loc-001"):
        self.kind = kind
        request_type = "place-order" if kind == "submit" else "validate-order"
        body = sample_order(uid=PLACEHOLDER, location_id=location_id, request_type=request_type)
        self.key = signing.key_from_shared_id(shared_id)
        self.head, self.tail = jsonio.dumps(body).encode().split(PLACEHOLDER.encode())
        self.rest = signing.digest_message(body).split("|", 1)[1]
        self.token = token
        self.prefix = f"b{uuid.uuid4().hex[:10]}-"
        self.count = 0
        self.fixed = self._make(f"{self.prefix}fixed")
        assert self._make(PLACEHOLDER)[1]["x-pch-digest"] == signing.sign(self.key, body)

    def _make(self, uid: str) -> tuple[bytes, dict]:
        digest = hmac.new(self.key, f"{uid}|{self.rest}".encode(), hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}", "x-pch-digest": digest}
        return self.head + uid.encode() + self.tail, headers

    def next(self) -> tuple[bytes, dict]:
        if self.kind != "submit":
            return self.fixed
        self.count += 1
        return self._make(f"{self.prefix}{self.count:09d}")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(spec: dict) -> dict:
    requests = Requests(spec["kind"], spec["shared_id"], spec["token"], spec.get("location_id", "loc-001"))
    clients, url = int(spec["clients"]), spec["url"]
    started = time.perf_counter()
    measure_from = started + float(spec.get("warmup", 1.0))
    stop_at = measure_from + float(spec["seconds"])
    samples: list[tuple[float, float, int]] = []
    cpu_before = time.process_time()
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 30)))
    ramp = float(spec.get("ramp", 0.0)) / clients  # connections opened over the ramp, not in one burst

    async def client(session: aiohttp.ClientSession, index: int) -> None:
        await asyncio.sleep(index * ramp)
        while time.perf_counter() < stop_at:
            data, headers = requests.next()
            sent = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
                await asyncio.sleep(0.01)
            samples.append((sent, time.perf_counter(), status))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session, index) for index in range(clients)))
    cpu = time.process_time() - cpu_before
    window = stop_at - measure_from
    done = [s for s in samples if measure_from <= s[1] <= stop_at]
    timed = [s for s in samples if measure_from <= s[0] < stop_at]
    latencies = [(end - sent) * 1000 for sent, end, _ in timed]
    statuses: dict[str, int] = {}
    for _, _, status in timed:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "kind": spec["kind"],
        "clients": clients,
        "seconds": window,
        "completed": len(done),
        "rps": len(done) / window,
        "started": len(timed),
        "statuses": statuses,
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "cpu_s": cpu,
        "total": len(samples),
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    """One spec from argv; else one spec a line on stdin, one summary a line back, until EOF."""
    if len(sys.argv) > 1:
        print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
        return
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(asyncio.run(run(json.loads(line)))), flush=True)


if __name__ == "__main__":
    main()
