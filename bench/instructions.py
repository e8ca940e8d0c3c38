"""Instructions per request in the web process, counted by valgrind's callgrind.

`python -m bench.instructions [--requests N] [--out FILE] [--root PATH ...]` starts a real
redis-server (EmbeddedRedis, or the one REDIS_URL names) and the POS simulator (answering at
once), then, for each checkout given by `--root` (default: this one), runs a child process under
`valgrind --tool=callgrind --instr-atstart=no`: with PYTHONPATH=ROOT it builds the real app
(`app.wsgi`, as gunicorn does, gevent's monkey-patching first as the gevent worker does), sends
a warm-up of signed validate and submit requests through the WSGI callable, then N signed
validates and N signed submits (each a new request_uid), with callgrind's instrumentation on
only around each measured loop (client requests from a small C helper built with gcc and
<valgrind/callgrind.h>, called through ctypes). Each loop's count is dumped to a file of its
own; instructions per request = the dump's total / N. Every figure is given as a ratio to the
first root's (the baseline). Instruction counts do not depend on what else runs on the machine.

Each root runs on its own interpreter: ROOT/.venv/bin/python when it exists (so a baseline is
measured with its own locked dependencies), else this one. Requests are built before a loop
(bodies, signatures, WSGI environ), so the loop spends its instructions in the app; gunicorn's
own share (parsing HTTP, the socket) is not in these figures. `--native` runs the child without
valgrind (with `--profile`, cProfile over the loops: the Python-level view).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123"
SHARED_ID = "BenchShared-0123456789"
POS_TOKEN = "bench-pos-token"
KINDS = ("validate", "submit")
HELPER_C = """#include <valgrind/callgrind.h>
void pb_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void pb_stop(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
int pb_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
"""


# -- the child: one checkout's app, driven in-process ----------------------------------------
def _child(args) -> None:
    if not args.no_gevent:
        from gevent import monkey

        monkey.patch_all()  # as gunicorn's gevent worker does, before the app imports redis/requests
    import cProfile
    import ctypes

    helper = ctypes.CDLL(args.helper)
    helper.pb_stop.argtypes = [ctypes.c_char_p]
    from app.wsgi import application  # noqa: I001 - after the patching, as gunicorn imports it

    from app import signing
    from bin.sample import encode, sample_order
    from bin.token import make_token

    token = make_token(JWT_SECRET, seconds=6 * 3600)
    prefix = f"ins{os.getpid()}-"
    counter = iter(range(10**9))

    def environ(kind: str) -> dict:
        uid = f"{prefix}{next(counter):07d}"
        request_type = "place-order" if kind == "submit" else "validate-order"
        data, headers = encode(sample_order(uid=uid, request_type=request_type), SHARED_ID, token)
        return {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": f"/posnext/order/{kind}",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": headers["Content-Type"],
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_AUTHORIZATION": headers["Authorization"],
            "HTTP_X_PCH_DIGEST": headers["x-pch-digest"],
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "RAW_URI": f"/posnext/order/{kind}",
        }

    def drive(environs: list[dict]) -> list[tuple[str, bytes]]:
        out = []
        for env in environs:
            seen: list[str] = []
            body = application(env, lambda status, headers, exc_info=None, seen=seen: seen.append(status))
            out.append((seen[0], b"".join(body)))
            if hasattr(body, "close"):
                body.close()
        return out

    def check(kind: str, results: list[tuple[str, bytes]]) -> dict:
        want = {"validate": "validated", "submit": "placed"}[kind]
        good = sum(1 for status, body in results if status.startswith("200") and json.loads(body)["status"] == want)
        return {"ok": good, "of": len(results), "sample": results[-1][1][:300].decode(errors="replace")}

    report = {"on_valgrind": bool(helper.pb_on_valgrind()), "signing": signing.__name__}
    for kind in KINDS:  # warm-up: the menu fetched and cached, every code path run once
        report[f"warmup_{kind}"] = check(kind, drive([environ(kind) for _ in range(args.warmup)]))
    profiler = cProfile.Profile(time.process_time) if args.profile_out else None
    for kind in KINDS:
        environs = [environ(kind) for _ in range(args.requests)]
        started = time.process_time()
        helper.pb_start()
        if profiler:
            profiler.enable()
        results = drive(environs)
        if profiler:
            profiler.disable()
        helper.pb_stop(kind.encode())
        report[kind] = dict(check(kind, results), cpu_ms=(time.process_time() - started) * 1000 / args.requests)
    if profiler:
        profiler.dump_stats(args.profile_out)
    Path(args.report).write_text(json.dumps(report))


# -- the driver -------------------------------------------------------------------------------
def _helper(directory: str) -> str:
    source, library = os.path.join(directory, "pbcg.c"), os.path.join(directory, "pbcg.so")
    Path(source).write_text(HELPER_C)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


def _interpreter(root: Path) -> str:
    own = root / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _annotate(path: Path, top: int) -> str:
    done = subprocess.run(["callgrind_annotate", "--threshold=99", str(path)], capture_output=True, text=True)
    lines = [_short(line) for line in done.stdout.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "file:function" in line), 0)
    return "\n".join(lines[start : start + top + 1])


def _short(line: str) -> str:
    """`/tmp/python-build.../Python-3.11.7/Objects/dictobject.c:f [lib]` as `Objects/dictobject.c:f [lib]`."""
    line = re.sub(r"/\S*/Python-3\.\d+\.\d+/", "", line)
    line = re.sub(r"\[/\S*/([^/\]]+)\]", r"[\1]", line)
    return re.sub(r"/\S*/site-packages/", "", line)


def _measure(root: Path, label: str, args, env: dict, work: Path, helper: str) -> dict:
    out_file = work / f"callgrind.{label}.out"
    report_file = work / f"report.{label}.json"
    command = [
        _interpreter(root),
        str(HERE),
        "--child",
        "--helper",
        helper,
        "--report",
        str(report_file),
        "--requests",
        str(args.requests),
        "--warmup",
        str(args.warmup),
    ] + (["--no-gevent"] * args.no_gevent)
    if args.profile:
        command += ["--profile-out", str(work / f"profile.{label}.pstats")]
    if not args.native:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}", *command]
    child_env = {
        **env,
        "PYTHONPATH": str(root),
        "PYTHONHASHSEED": "0",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="pb-metrics-", dir=work),
    }
    with open(work / f"child.{label}.log", "wb") as log:
        subprocess.run(command, cwd=root, env=child_env, stdout=log, stderr=log, check=True)
    report = json.loads(report_file.read_text())
    for index, kind in enumerate(KINDS, start=1):
        if not args.native:
            dump = Path(f"{out_file}.{index}")
            report[kind]["instructions"] = _totals(dump) / args.requests
            report[kind]["profile"] = _annotate(dump, args.top)
            report[kind]["dump"] = str(dump)
        if report[kind]["ok"] != args.requests:
            raise RuntimeError(
                f"{label} {kind}: {report[kind]['ok']}/{args.requests} as expected: {report[kind]['sample']}"
            )
    return report


def _markdown(results: dict, args) -> str:
    labels = list(results)
    base = results[labels[0]]
    what = "CPU ms (native, noisy)" if args.native else "instructions"
    lines = [
        f"# Instructions per request (web, in-process): {args.requests} of each, warm-up {args.warmup}",
        "",
        f"| checkout | validate {what} | ratio | submit {what} | ratio |",
        "|---|---|---|---|---|",
    ]
    key = "cpu_ms" if args.native else "instructions"
    for label in labels:
        row = results[label]
        cells = [f"{row[k][key]:,.2f} | {row[k][key] / base[k][key]:.3f}" for k in KINDS]
        lines.append(f"| {label} ({row['root']}) | " + " | ".join(cells) + " |")
    if not args.native:
        for label in labels:
            for kind in KINDS:
                lines += [
                    "",
                    f"## {label}: {kind}, top functions (self)",
                    "",
                    "```",
                    results[label][kind]["profile"],
                    "```",
                ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="measured requests of each kind")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests of each kind (not counted)")
    parser.add_argument("--root", action="append", help="a checkout to measure (repeat; the first is the baseline)")
    parser.add_argument("--out", help="write the report (markdown) here; a .json beside it")
    parser.add_argument("--native", action="store_true", help="no valgrind: CPU time only (noisy)")
    parser.add_argument("--profile", action="store_true", help="cProfile over the loops (pstats in the work dir)")
    parser.add_argument(
        "--no-gevent",
        action="store_true",
        help="no monkey-patching: blocking sockets, so no count depends on whether a read waited",
    )
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--keep", help="a directory for the dumps and logs (default: a new temporary one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if sys.path and sys.path[0] == str(HERE.parent):  # run as a script: bench/ is no package root
            sys.path.pop(0)
        return _child(args)
    sys.path.insert(0, str(HERE.parent.parent))
    from bin.stack import EmbeddedRedis, free_port, wait_for_port

    work = Path(args.keep or tempfile.mkdtemp(prefix="pb-instructions-"))
    work.mkdir(parents=True, exist_ok=True)
    roots = [Path(r).resolve() for r in (args.root or [HERE.parent.parent])]
    redis_url = os.environ.get("REDIS_URL")
    server = None if redis_url else EmbeddedRedis(directory=str(work / "redis")).start()
    redis_url = redis_url or (server.url if server else "")
    pos_port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "POS_BASE_URL": f"http://127.0.0.1:{pos_port}",
        "POS_API_TOKEN": POS_TOKEN,
        "PAR_SHARED_ID": SHARED_ID,
        "PAR_JWT_SECRET": JWT_SECRET,
        "REQUEST_MAX_AGE_SECONDS": "86400",
    }
    possim = subprocess.Popen(
        [sys.executable, "-m", "possim", "--host", "127.0.0.1", "--port", str(pos_port)],
        cwd=HERE.parent.parent,
        env={**env, "PYTHONPATH": str(HERE.parent.parent)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict = {}
    try:
        wait_for_port(pos_port, 30, possim)
        helper = _helper(str(work))
        for index, root in enumerate(roots):
            label = f"r{index}-{root.name}"
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            started = time.monotonic()
            results[label] = dict(
                _measure(root, label, args, env, work, helper),
                root=str(root),
                seconds=round(time.monotonic() - started, 1),
            )
            counts = {k: results[label][k].get("instructions", results[label][k]["cpu_ms"]) for k in KINDS}
            print(f"{label}: " + ", ".join(f"{k} {v:,.2f}" for k, v in counts.items()), file=sys.stderr, flush=True)
    finally:
        possim.terminate()
        possim.wait(10)
        if server:
            server.stop()
    text = _markdown(results, args)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(text)
    print(f"(dumps and logs in {work})", file=sys.stderr)
    return None


if __name__ == "__main__":
    main()
