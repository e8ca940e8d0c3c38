"""Where the web's CPU per request goes, the whole gunicorn worker process, under load.

`python -m bench.web_profile [--seconds N] [--kind submit|validate|both] [--latency MS]
[--clients N] [--out FILE]` starts the POS simulator and our web as `python -m bench` does
(bench/stacks.py: an embedded redis-server, the Procfile's gunicorn line with gunicorn.conf.py),
warms it up, then drives a closed-loop load of the kind (bench/loadgen.py through
bench/runner.py; a submit's POS answers after --latency ms) and measures the gunicorn worker
processes, each tool in a load window of its own so that none slows another's figure:

1. CPU: psutil user and system time of the workers over the measured window, divided by the
   requests loadgen counts answered in that window;
2. syscalls: `strace -c -f -p <each worker>` for a few seconds; counts only (strace slows every
   call, so its times are not used), divided by the requests answered while it was attached;
3. components: `py-spy record --gil --native -r 250 -f raw -p <each worker>`, and if that fails
   or its samples come to more than MAX_COVERAGE times the workers' user CPU seconds meanwhile,
   `--gil --nonblocking` (Python frames only; C code counts for the Python frame calling it).
   --gil, because py-spy's idle test counts here a thread blocked in epoll_wait or on a lock as
   running (a gevent process 10% busy gave 246 samples in 3 s at 250/s, 66-88 with --gil). So the
   samples are Python and extension code holding the GIL: user CPU (and the few syscalls made
   without releasing it); socket reads and writes release it, so their kernel time is in (1) and
   (4). --native stops the process for every sample; on 2 loaded cores that stalls the workers
   and the wall-clock samples pile up where one stands (hundreds of ms on one line). Each sample
   goes to the innermost frame of a known component by the frame's file
   (bench/profile_parsers.py's COMPONENTS; any other installed package is `other: <name>`;
   gevent's socket wrappers and the stdlib socket module stand for their caller); a share
   times the user CPU per request of (1) gives ms;
4. shared objects: `perf record -e cpu-clock -p <workers>` (a software clock: hardware counters
   are absent in this VM), samples by DSO (the kernel, libpython, each extension .so).

Every figure is per request and a share of its total; plain text on stdout, --out writes JSON.
Every process started here is stopped at the end, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.profile_parsers import attribute, parse_perf, parse_strace, shares
from bench.runner import MODES, Runner
from bench.stacks import BenchStack

WARMUP = 1.0  # unmeasured start of every load (its connections opened)
SLACK = 3.0  # seconds of load beyond a sampler's window (attaching takes a moment)
STRACE_SECONDS = 5.0
PY_SPY = str(Path(sys.executable).parent / "py-spy")
RATE = 250  # py-spy samples a second
SAMPLERS = (["--native"], ["--nonblocking"])  # the second if the first fails or its samples overrun the CPU
MAX_COVERAGE = 1.5  # samples (at 1/RATE s each) beyond 1.5x the workers' user CPU seconds: not CPU time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of each window")
    parser.add_argument("--kind", choices=("submit", "validate", "both"), default="both")
    parser.add_argument("--latency", type=int, default=50, help="POS latency ms for submit")
    parser.add_argument("--clients", type=int, default=50, help="closed-loop connections")
    parser.add_argument("--out", help="write the report as JSON here too")
    return parser.parse_args(argv)


# -- the run ---------------------------------------------------------------------------------------
class Profile:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.stack = BenchStack()
        self.runner = Runner(self.stack, dataclasses.replace(MODES["quick"], seconds=args.seconds, warmup=WARMUP))
        self.tools: list[subprocess.Popen[str]] = []

    def start(self) -> None:
        print(f"web_profile: logs in {self.stack.stack.log_dir}", file=sys.stderr)
        self.stack.start_possim()
        self.stack.start_variant("web")
        self.stack.wait_web("web")

    def close(self) -> None:
        for tool in self.tools:
            if tool.poll() is None:
                tool.kill()
                tool.wait(10)
        self.runner.close()
        self.stack.stop()

    def _tool(self, command: list[str]) -> subprocess.Popen[str]:
        tool = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.tools.append(tool)
        return tool

    def _finish(self, tool: subprocess.Popen[str], timeout: float) -> str:
        """A tool's output once it has exited by itself; RuntimeError if it failed."""
        said: str = tool.communicate(timeout=timeout)[0]
        if tool.returncode:
            name = tool.args[0] if isinstance(tool.args, list) else tool.args
            raise RuntimeError(f"{name!s} exited {tool.returncode}: {said.strip()[-300:]}")
        return said

    def window(self, kind: str, seconds: float, during):
        """One load of `kind` for WARMUP + `seconds`; `during()` is called as its measured window opens."""
        box: dict = {}

        def load() -> None:
            try:
                box["load"] = self.runner.load("web", kind, self.args.clients, seconds=seconds)
            except Exception as exc:
                box["error"] = exc

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        time.sleep(WARMUP)
        try:
            value = during()
        except (OSError, RuntimeError, subprocess.SubprocessError):
            thread.join(seconds + WARMUP + 120)  # the next window's load must not start before this one ends
            raise
        thread.join(seconds + WARMUP + 120)
        if "load" not in box:
            raise RuntimeError(f"the load did not finish: {box.get('error')}")
        return box["load"], value

    def cpu(self, seconds: float) -> dict:
        master, *workers = self.stack.tree("web")
        before, master_before = [w.cpu_times() for w in workers], master.cpu_times()
        time.sleep(seconds)
        after, master_after = [w.cpu_times() for w in workers], master.cpu_times()
        return {
            "user": sum(a.user - b.user for a, b in zip(after, before, strict=True)),
            "system": sum(a.system - b.system for a, b in zip(after, before, strict=True)),
            "master": master_after.user + master_after.system - master_before.user - master_before.system,
            "workers": [w.pid for w in workers],
        }

    def strace(self, pids: list[int], seconds: float) -> dict[str, tuple[int, int]]:
        out = os.path.join(self.stack.work_dir, "strace.txt")
        tool = self._tool(["strace", "-c", "-f", "-o", out, *[a for pid in pids for a in ("-p", str(pid))]])
        time.sleep(seconds)
        tool.send_signal(signal.SIGINT)  # strace detaches, writes its summary and dies of the signal
        tool.communicate(timeout=30)
        if tool.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"strace exited {tool.returncode}")
        return parse_strace(Path(out).read_text())

    def pyspy(self, pids: list[int], seconds: float, flags: list[str]) -> tuple[str, list[str], float]:
        """py-spy's raw stacks of every worker, what it said, and the workers' user CPU seconds meanwhile."""
        workers, started = self.stack.tree("web")[1:], []
        before = sum(w.cpu_times().user for w in workers)
        for pid in pids:
            out = os.path.join(self.stack.work_dir, f"py-spy-{pid}{flags[0]}.txt")
            started.append(
                (
                    self._tool(
                        [
                            PY_SPY,
                            "record",
                            "--gil",
                            *flags,
                            "-r",
                            str(RATE),
                            "-f",
                            "raw",
                            "-d",
                            str(max(1, round(seconds))),
                            "-o",
                            out,
                            "-p",
                            str(pid),
                        ]
                    ),
                    out,
                )
            )
        said = [
            re.findall(r"Samples: \d+ Errors: \d+|behind in sampling[^\n]*", self._finish(tool, seconds + 60))
            for tool, _ in started
        ]
        user = sum(w.cpu_times().user for w in workers) - before
        return "".join(Path(out).read_text() for _, out in started), [s for one in said for s in one], user

    def profile(self, kind: str) -> dict:
        args, seconds = self.args, self.args.seconds
        self.stack.knobs("loc-001", latency_ms=args.latency if kind == "submit" else 0)
        self.runner.load("web", kind, args.clients, seconds=2)  # warm-up, as python -m bench does
        print(f"{kind}: CPU window", file=sys.stderr)
        load, cpu = self.window(kind, seconds, lambda: self.cpu(seconds))
        pids, answered = cpu["workers"], max(load["completed"], 1)
        total_ms = 1000 * (cpu["user"] + cpu["system"]) / answered
        report = {
            "kind": kind,
            "latency_ms": args.latency if kind == "submit" else 0,
            "clients": args.clients,
            "workers": len(pids),
            "load": {k: load[k] for k in ("seconds", "completed", "rps", "p50_ms", "p99_ms", "statuses")},
            "cpu": {
                "user_ms": 1000 * cpu["user"] / answered,
                "system_ms": 1000 * cpu["system"] / answered,
                "total_ms": total_ms,
                "master_ms": 1000 * cpu["master"] / answered,
                "bench_web_cpu_ms": load["cpu_ms"]["web"],
            },
        }
        for name, section in (("syscalls", self.syscalls), ("components", self.components), ("perf", self.dsos)):
            print(f"{kind}: {name} window", file=sys.stderr)
            try:
                report[name] = section(kind, pids, report["cpu"])
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return report

    def syscalls(self, kind: str, pids: list[int], cpu: dict) -> dict:
        seconds = min(self.args.seconds, STRACE_SECONDS)
        load, calls = self.window(kind, seconds, lambda: self.strace(pids, seconds))
        n, every = max(load["completed"], 1), sum(c for c, _ in calls.values()) or 1
        rows = [
            {"name": name, "per_request": c / n, "share": c / every, "errors_per_request": e / n}
            for name, (c, e) in sorted(calls.items(), key=lambda item: -item[1][0])
        ]
        return {"seconds": seconds, "answered": load["completed"], "per_request": every / n, "rows": rows}

    def components(self, kind: str, pids: list[int], cpu: dict) -> dict:
        seconds, rejected = self.args.seconds, []
        for flags in SAMPLERS:
            sampler = f"py-spy record --gil {' '.join(flags)}"
            try:
                raw, said, user = self.window(kind, seconds + SLACK, lambda f=flags: self.pyspy(pids, seconds, f))[1]
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                rejected.append(f"{sampler} failed: {exc}")
                continue
            found = attribute(raw)
            coverage = found["samples"] / RATE / max(user, 1e-9)
            if found["samples"] and (coverage <= MAX_COVERAGE or flags is SAMPLERS[-1]):
                break
            rejected.append(
                f"{sampler} not used: {found['samples']} samples ({', '.join(said)}) came to "
                f"{100 * coverage:.0f}% of the workers' user CPU seconds while it sampled (its ptrace "
                "stops stall the workers, and wall-clock samples pile up where one stands)"
            )
        else:
            raise RuntimeError("; ".join(rejected))
        return {
            "sampler": sampler,
            "rejected": rejected,
            "py_spy_said": said,
            "samples": found["samples"],
            "coverage": coverage,
            "under_socket_share": found["under_socket"] / max(found["samples"], 1),
            "rows": shares(found["components"].most_common(), cpu["user_ms"]),
            "leaves": shares(found["leaves"].most_common(), cpu["user_ms"])[:15],
        }

    def dsos(self, kind: str, pids: list[int], cpu: dict) -> dict:
        if not shutil.which("perf"):
            raise RuntimeError("perf is not installed")
        stat = subprocess.run(
            ["perf", "stat", "-e", "task-clock,cycles", "true"], capture_output=True, text=True, timeout=30
        ).stderr
        cycles = "not supported" if re.search(r"<not (supported|counted)>\s+cycles", stat) else "counted"
        data, seconds = os.path.join(self.stack.work_dir, f"perf-{kind}.data"), self.args.seconds
        command = [
            "perf",
            "record",
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-o",
            data,
            "-p",
            ",".join(map(str, pids)),
            "--",
            "sleep",
            str(seconds),
        ]
        self.window(kind, seconds + SLACK, lambda: self._finish(self._tool(command), seconds + 60))
        dsos = parse_perf(perf_report(data, "dso"))
        if not dsos:
            raise RuntimeError("perf recorded no samples")
        symbols = [(s.split("[k]")[-1].strip(), n) for s, n in parse_perf(perf_report(data, "dso,sym")) if "[k]" in s]
        every, kernel, total_ms = sum(n for _, n in dsos), sum(n for _, n in symbols) or 1, cpu["total_ms"]
        return {
            "check": f"`perf stat -e task-clock,cycles true`: hardware cycles {cycles}; recorded cpu-clock",
            "rows": shares(dsos, total_ms),
            "kernel_symbols": [  # shares of every sample, and of the kernel's
                {"name": s, "samples": n, "share": n / every, "ms": total_ms * n / every, "share_of_kernel": n / kernel}
                for s, n in symbols[:10]
            ],
        }


def perf_report(data: str, sort: str) -> str:
    return subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "-n", "--sort", sort], capture_output=True, text=True, timeout=300
    ).stdout


# -- the report ------------------------------------------------------------------------------------
def table(rows: list[dict], label: str, limit: int = 40) -> list[str]:
    lines = [f"  {label:<58} {'ms/req':>8} {'share':>7}"]
    lines += [f"  {row['name'][:58]:<58} {row['ms']:8.3f} {100 * row['share']:6.1f}%" for row in rows[:limit]]
    return lines


def text(report: dict) -> str:
    load, cpu, total = report["load"], report["cpu"], report["cpu"]["total_ms"]
    lines = [
        f"== {report['kind']}: POS {report['latency_ms']} ms, {report['clients']} clients, "
        f"{report['workers']} gunicorn workers ==",
        f"load: {load['completed']} answered in {load['seconds']:.1f} s ({load['rps']:.0f}/s), "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, statuses {load['statuses']}",
        "",
        "1. CPU per request of the gunicorn workers (psutil cpu_times)",
        *[
            f"  {name:<7} {cpu[key]:.3f} ms  {100 * cpu[key] / total:5.1f}%"
            for name, key in (("user", "user_ms"), ("system", "system_ms"), ("total", "total_ms"))
        ],
        f"  (the master: {cpu['master_ms']:.3f} ms; bench's own whole-load figure, master included: "
        f"{cpu['bench_web_cpu_ms']:.3f} ms)",
    ]
    calls, parts, perf = report["syscalls"], report["components"], report["perf"]
    lines.append("")
    if "error" in calls:
        lines.append(f"2. syscalls: strace did not work: {calls['error']}")
    else:
        lines += [
            f"2. syscalls per request (strace -c -f, counts only; {calls['answered']} answered in "
            f"{calls['seconds']:.0f} s): {calls['per_request']:.1f} in all",
            f"  {'syscall':<24} {'per req':>8} {'share':>7} {'errors/req':>11}",
        ]
        lines += [
            f"  {r['name']:<24} {r['per_request']:8.2f} {100 * r['share']:6.1f}% {r['errors_per_request']:11.2f}"
            for r in calls["rows"]
        ]
    lines.append("")
    if "error" in parts:
        lines.append(f"3. components: py-spy did not work: {parts['error']}")
    else:
        lines += [
            *[f"note: {why}" for why in parts["rejected"]],
            f"3. user CPU by component ({parts['sampler']} -r {RATE}: {', '.join(parts['py_spy_said'])}; "
            f"samples holding the GIL only, {100 * parts['coverage']:.0f}% of the workers' user CPU seconds "
            f"while sampled; ms = share x {cpu['user_ms']:.3f} ms user; "
            f"{100 * parts['under_socket_share']:.1f}% of samples in or under gevent's or stdlib socket code)",
            *table(parts["rows"], "component"),
            "  top 15 leaf functions:",
            *table(parts["leaves"], "leaf function (file)"),
        ]
    lines.append("")
    if "error" in perf:
        lines.append(f"4. DSOs: perf did not work: {perf['error']}")
    else:
        lines += [
            f"4. CPU by shared object (perf record -e cpu-clock -F 499; {perf['check']})",
            *table(perf["rows"], "DSO"),
            "  top 10 kernel symbols (share of all samples):",
            *table(perf["kernel_symbols"], "symbol"),
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop everything on the way out
    profile = Profile(args)
    reports = []
    try:
        profile.start()
        for kind in ("validate", "submit") if args.kind == "both" else (args.kind,):
            reports.append(profile.profile(kind))
            print(text(reports[-1]) + "\n", flush=True)
    finally:
        profile.close()
    if args.out:
        Path(args.out).write_text(json.dumps(reports, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
