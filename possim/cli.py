"""The simulator's command line (no gevent here: ``python -m possim`` patches, this does not)."""

import argparse
import json
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m possim", description="The POS simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--token", help="the bearer token to require (default: $POS_API_TOKEN)")
    parser.add_argument("--knobs", metavar="FILE", help='knobs at start, JSON: {"*": {...}, "loc-001": {...}}')
    parser.add_argument(
        "--slower-than",
        type=float,
        metavar="SECONDS",
        help="every POST /orders sleeps SECONDS + 1 before it creates the order: slower than a "
        "client's connect + read timeout of SECONDS (over the knobs file's latency_ms)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


SLOWER_BY_MS = 1000  # how much slower than the timeout --slower-than makes the POS


def start_knobs(args: argparse.Namespace) -> dict | None:
    """The knobs at start: the knobs file's, with --slower-than's latency over them."""
    knobs = load_knobs(args.knobs) if args.knobs else None
    if args.slower_than is not None:
        if not 0 <= args.slower_than <= 3600:
            sys.exit("possim: --slower-than must be between 0 and 3600 seconds")
        knobs = dict(knobs or {})
        knobs["*"] = {**knobs.get("*", {}), "latency_ms": args.slower_than * 1000 + SLOWER_BY_MS}
    return knobs


def load_knobs(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            knobs = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f"possim: cannot read knobs file {path}: {exc}")
    if not isinstance(knobs, dict):
        sys.exit(f'possim: knobs file {path} must hold a JSON object {{"*": {{...}}, ...}}')
    return knobs
