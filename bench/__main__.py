"""`python -m bench [--smoke | --quick] [--seconds N] [--reps N] [--soak S] [--out PATH]`.

Starts the stack in its production shape (bin/stack.py: gunicorn with gunicorn.conf.py, Celery
workers and beat from the Procfile, the POS simulator, an embedded redis-server), drives it
with bench/loadgen.py in a process of its own, prints the table and, in the full mode (the
default), writes docs/BENCHMARKS.md. Every figure is a ratio against a baseline measured in
the same run. --smoke runs every case for a moment (the test suite runs it); --quick is a
short look; the full run takes about 14 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import time

from bench import docs, memory_case, previous, speed_cases, web_cases, worker_cases
from bench.report import Row, text_table
from bench.runner import MODES, Runner
from bench.stacks import BenchStack
from bin.stack import ROOT

WEB_VARIANTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("web", "web", {}),
    ("bare", "bare", {}),
    ("naive", "naive", {"WEB_WORKER_CLASS": "gthread"}),
    ("gthread", "web", {"WEB_WORKER_CLASS": "gthread"}),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="every case for a moment (< 60 s); writes no docs")
    size.add_argument("--quick", action="store_true", help="one short load per figure, a 1-minute soak")
    parser.add_argument("--seconds", type=float, help="measured seconds of each load")
    parser.add_argument("--reps", type=int, help="loads per figure (the median is reported)")
    parser.add_argument("--soak", type=float, help="seconds of load on the web process before RSS is read again")
    parser.add_argument(
        "--baseline",
        metavar="REF[,REF]",
        help="earlier mains to run beside ours (default: the commits in bench/BASELINE); 'none' skips them",
    )
    parser.add_argument("--out", help="where to write the report (default: docs/BENCHMARKS.md in the full mode)")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> tuple[list, dict]:
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    changes = {k: v for k, v in (("seconds", args.seconds), ("reps", args.reps), ("soak", args.soak)) if v}
    mode = dataclasses.replace(mode, **changes)
    started, load_before = time.monotonic(), os.getloadavg()
    stack = BenchStack()
    runner = Runner(stack, mode)
    rows: list[Row] = []
    say(f"bench: mode {mode.name}, logs in {stack.stack.log_dir}")
    earlier, skipped = [], []  # (label, worktree) of each earlier main; why one could not run
    for ref, label in previous.baselines(args.baseline):
        try:
            earlier.append((label, previous.checkout(ref)))
        except (previous.Unavailable, subprocess.SubprocessError) as exc:
            skipped.append(f"{label}: {exc}")
    say(f"earlier mains: {earlier} {skipped or ''}")
    try:
        stack.start_possim()
        for label, name, env in WEB_VARIANTS:
            stack.start_variant(label, name=name, **env)
        for db, (label, path) in enumerate(earlier, start=2):
            stack.start_previous(path, label, db)
        stack.start_workers(1)
        stack.stack.start("beat")
        for label in stack.ports:
            stack.wait_web(label)
        stack.wait_workers(1)
        fresh = memory_case.rss(runner)
        runner.load("web", "validate", 50, seconds=mode.warmup + 1)
        runner.load("web", "submit", 50, seconds=mode.warmup + 1)
        for label, _ in earlier:
            runner.load(label, "validate", 50, seconds=mode.warmup + 1)
            runner.load(label, "submit", 50, seconds=mode.warmup + 1)
        memory_case.warm_worker(runner)
        warm = memory_case.rss(runner)

        def versus(r: Runner) -> list:
            return speed_cases.versus_earlier(r, [label for label, _ in earlier], skipped)

        for name, case in (
            ("earlier mains", versus),
            ("validate", web_cases.validate),
            ("submit", web_cases.submit),
            ("overrun", web_cases.overrun),
            ("memory", lambda r: memory_case.soak(r, fresh, warm)),
        ):
            section = case(runner)
            rows += section
            say(f"--- {name} done at {time.monotonic() - started:.0f} s\n{text_table(section)}")
            if name == "earlier mains" and earlier:
                stack.stop_together(*(label for label, _ in earlier))  # the rest of the run as before they came
                for label, _ in earlier:
                    del stack.ports[label]
        stack.stop_together(*stack.ports, "worker1", "beat")
        rows += worker_cases.workers(runner)
    finally:
        runner.close()
        stack.stop()
    meta = {
        "mode": mode,
        "elapsed": time.monotonic() - started,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "argv": " ".join(sys.argv[1:]),
    }
    return rows, meta


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on the way out
    rows, meta = run(args)
    print(text_table(rows))
    print(
        f"\n{len(rows)} rows, {sum(r.met is False for r in rows)} goals not met, "
        f"{meta['elapsed']:.0f} s, mode {meta['mode'].name}"
    )
    out = args.out or (None if args.smoke or args.quick else str(ROOT / "docs" / "BENCHMARKS.md"))
    if out:
        docs.write(out, rows, meta)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
