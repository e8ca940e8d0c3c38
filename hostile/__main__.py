"""`python -m hostile [--short] [--nginx] [--requests N] [--seed S] [--report FILE]`: the standing
hostile-input run against the live stack, gunicorn bare or (--nginx) through the shipped front door
(docs/SECURITY.md). Exit status 1 when anything was found."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile

from harness.report import write_json
from hostile.run import hostile_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hostile")
    parser.add_argument("--short", action="store_true", help="the CI size: 300 generated requests")
    parser.add_argument("--requests", type=int, default=20000, help="generated requests of a full run")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--report", help="write the result as JSON here")
    parser.add_argument("--nginx", action="store_true", help="through deploy/nginx/posbridge.conf (Debian's nginx)")
    args = parser.parse_args(argv)
    count = 300 if args.short else args.requests
    tmp = tempfile.mkdtemp(prefix="hostile-")
    try:
        result = hostile_run(tmp, count, args.seed, warmup=100 if args.short else 1000, nginx=args.nginx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["command"] = "python -m hostile " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.report:
        write_json(args.report, result)
    print(
        f"{result['requests']} requests in {result['seconds']} s; answers {result['status_counts']}; "
        f"slowest {result['slowest_seconds']} s; web RSS {result['rss_mb'][0]} -> {result['rss_mb'][1]} MB; "
        f"findings: {len(result['findings'])}"
    )
    for finding in result["findings"][:40]:
        print("  FINDING", json.dumps(finding)[:400])
    return 1 if result["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
