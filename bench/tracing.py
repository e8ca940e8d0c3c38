"""`python -m bench.tracing [--n N] [--reps R]`: what traces cost (app/tracing.py), off and on.

One run measures both, as ratios against figures taken in the same run:
- per submit (inline, placed: a Flask request, its Redis calls and one POS POST), the web
  process's CPU time, traces off and on, in child processes taken in turn (R of each, medians).
  A real redis-server (no AOF: DURABILITY=none) and the POS simulator run in processes of their
  own, so their CPU is not counted; on, spans go through the BatchSpanProcessor and the OTLP/HTTP
  exporter to a local sink that discards them, flushed inside the measured time;
- once per process, `import redis` with the OpenTelemetry SDK installed (redis-py 8 imports
  its metrics part whenever it can) against the same import with it hidden (as before).
Prints a Markdown table (docs/OPERATIONS.md, "Traces").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bin.stack import ROOT, EmbeddedRedis, free_port, wait_for_port
from tests.support.live import JWT_SECRET, POS_TOKEN, SHARED_ID, live_env

HIDE_OTEL = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ImportError(name)
sys.meta_path.insert(0, Hide())
"""
IMPORTS_PER_REP = 4
IMPORT_REDIS = "import time; t = time.perf_counter(); import redis; print(time.perf_counter() - t)"


def child(n: int) -> None:
    """In a process of its own: warm up, then n submits; prints CPU and wall seconds per submit."""
    from app import create_app
    from app.logs import configure
    from bin.sample import encode, sample_order
    from bin.token import make_token

    configure("web")
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    app = create_app()
    client = app.test_client()
    token = make_token(JWT_SECRET)

    def submit() -> None:
        data, headers = encode(sample_order(), SHARED_ID, token)
        response = client.post("/posnext/order/submit", data=data, headers=headers)
        assert response.status_code == 200, response.data

    for _ in range(max(50, n // 5)):
        submit()
    _flush()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        submit()
    _flush()
    print(json.dumps({"cpu": (time.process_time() - cpu) / n, "wall": (time.perf_counter() - wall) / n}))


def _flush() -> None:
    from app import tracing

    if tracing.active():
        tracing._provider.force_flush()


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that reads and discards (an empty ExportTraceServiceResponse)."""

    spans_bytes = 0

    def do_POST(self):  # http.server's naming
        Sink.spans_bytes += len(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def run_child(env: dict, n: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.tracing", "--child", "--n", str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_seconds(hide: bool) -> float:
    code = (HIDE_OTEL if hide else "") + IMPORT_REDIS
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return float(done.stdout.strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing")
    parser.add_argument("--n", type=int, default=1000, help="measured submits per child")
    parser.add_argument("--reps", type=int, default=5, help="children of each kind, taken in turn")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.n)
        return 0

    redis_server = EmbeddedRedis(directory=tempfile.mkdtemp(prefix="bench-tracing-"), appendonly=False).start()
    pos_port = free_port()
    possim = subprocess.Popen(
        [sys.executable, "-m", "possim", "--port", str(pos_port), "--token", POS_TOKEN],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        wait_for_port(pos_port, 20, possim)
        base = {
            **os.environ,
            **live_env(
                redis_server.url,
                POS_BASE_URL=f"http://127.0.0.1:{pos_port}",
                DURABILITY="none",
                INLINE_BUDGET_MS="5000",
            ),
        }
        base.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        base.pop("POSBRIDGE_TRACES_FILE", None)
        on = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}"}
        figures: dict[str, list[dict]] = {"off": [], "on": []}
        imports: dict[str, list[float]] = {"hidden": [], "installed": []}
        for rep in range(args.reps):
            for kind, env in (("off", base), ("on", on)):
                figures[kind].append(run_child(env, args.n))
            for _ in range(IMPORTS_PER_REP):
                imports["hidden"].append(import_seconds(True))
                imports["installed"].append(import_seconds(False))
            print(f"rep {rep + 1}/{args.reps}: off {figures['off'][-1]}, on {figures['on'][-1]}", file=sys.stderr)
    finally:
        sink.shutdown()
        possim.terminate()
        possim.wait(10)
        redis_server.stop()

    def med(kind: str, key: str) -> float:
        return statistics.median(f[key] for f in figures[kind])

    hidden, installed = statistics.median(imports["hidden"]), statistics.median(imports["installed"])
    print(
        f"\n{args.reps} children of each kind, {args.n} submits each (medians); OTLP bytes received: "
        f"{Sink.spans_bytes}\n"
    )
    print("| figure | traces off | traces on | on / off |\n|---|---|---|---|")
    for key, label in (("cpu", "web CPU per submit"), ("wall", "wall time per submit")):
        off_value, on_value = med("off", key), med("on", key)
        print(f"| {label} | {off_value * 1e3:.2f} ms | {on_value * 1e3:.2f} ms | {on_value / off_value:.2f} |")
    print(
        f"| `import redis`, once per process | {installed * 1e3:.0f} ms (SDK installed) | | "
        f"{installed / hidden:.2f} of {hidden * 1e3:.0f} ms with it hidden |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
