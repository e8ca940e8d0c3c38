"""The README's run command: the whole service for real, on one machine.

API (gunicorn), Celery worker, beat, the POS simulator and Flower, as the Procfile says, on
the Redis that REDIS_URL names or, when it is not set, an embedded redis-server. Development
defaults fill the secrets that are not set, and are printed; production sets its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from pathlib import Path

from bin.stack import ROOT, EmbeddedRedis, Stack, wait_for_http, wait_for_port, wait_for_workers
from bin.token import make_token

DEV_DEFAULTS = {
    "POS_API_TOKEN": "dev-pos-token",
    "PAR_SHARED_ID": "devshared0123456789",
    "PAR_JWT_SECRET": "dev-jwt-secret-change-me-0123456789",  # 32+ bytes: HS256 wants no less
    "CALLBACK_ALLOW_PRIVATE": "true",
    "PORT": "8000",
    "POSSIM_PORT": "9100",
    "FLOWER_PORT": "5555",
}


def main() -> None:
    try:
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env")
    except ImportError:
        pass
    env = {k: os.environ.get(k) or v for k, v in DEV_DEFAULTS.items()}
    env.setdefault("POS_BASE_URL", os.environ.get("POS_BASE_URL") or f"http://127.0.0.1:{env['POSSIM_PORT']}")
    env["FLOWER_BASIC_AUTH"] = os.environ.get("FLOWER_BASIC_AUTH") or f"oncall:{secrets.token_urlsafe(9)}"
    var = Path(os.environ.get("POSBRIDGE_VAR_DIR") or ROOT / "var")  # logs, the embedded Redis's AOF, beat's file
    var.mkdir(parents=True, exist_ok=True)
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(directory=str(var / "redis"), port=int(os.environ.get("REDIS_PORT", "6380")))
        redis.start()
        env["REDIS_URL"] = redis.url
    stack = Stack(env, log_dir=str(var / "log"))
    stack.start("possim")
    wait_for_port(int(env["POSSIM_PORT"]), 20, stack.processes["possim"])
    for name in ("web", "worker", "beat", "flower"):
        stack.start(name)
    try:
        wait_for_http(f"http://127.0.0.1:{env['PORT']}/healthz", 60, stack.processes["web"])
        wait_for_port(int(env["FLOWER_PORT"]), 60, stack.processes["flower"])
        wait_for_workers(env.get("CELERY_BROKER_URL") or env["REDIS_URL"], 1, 60, stack.processes["worker"])
    except (TimeoutError, RuntimeError) as exc:
        print(f"start-up failed: {exc}; logs in {stack.log_dir}", file=sys.stderr)
        for label in stack.processes:
            print(f"--- {label}\n{stack.log(label)[-2000:]}", file=sys.stderr)
        stack.stop_all()
        if redis:
            redis.stop()
        sys.exit(1)
    where = f" (embedded, AOF in {var / 'redis'})" if redis else ""
    secret = env["PAR_JWT_SECRET"] if os.environ.get("PAR_JWT_SECRET") is None else None
    print(f"""
posbridge is running (Ctrl-C stops everything; logs in {stack.log_dir}):
  API          http://127.0.0.1:{env['PORT']}  (/posnext/..., /healthz, /readyz, /metrics, /docs)
  POS sim      {env['POS_BASE_URL']}  (admin: /_admin/knobs, /_admin/ledger)
  Flower       http://127.0.0.1:{env['FLOWER_PORT']}  (user:password {env['FLOWER_BASIC_AUTH']})
  Redis        {env['REDIS_URL']}{where}
  worker, beat running
  a JWT for trying it: {make_token(secret) if secret else '(set by you: sign one with PAR_JWT_SECRET)'}
""", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            for label, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{label} exited with {process.returncode}; stopping. Its log:\n{stack.log(label)[-2000:]}")
                    stopping.append(1)
                    break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        stack.stop_all()
        if redis:
            redis.stop()


if __name__ == "__main__":
    main()
