"""The README's run command: the whole service for real, on one machine.

API (gunicorn), Celery worker, beat, the POS simulator, Flower and the order console, as the Procfile says, on
the Redis that REDIS_URL names or, when it is not set, an embedded redis-server, and the archive
that ARCHIVE_URL names or, when it is not set, a SQLite file in var/ (migrated here, once, before
the processes start). Development
defaults fill the secrets that are not set, and are printed; production sets its own.

The secrets not set (the POS token, PAR's SharedId and JWT secret, Flower's password) are this
checkout's own: random, made once and kept in var/dev-secrets.env (mode 0600), printed in the
banner; never a value the repository documents (every process refuses those). The API binds
127.0.0.1 unless WEB_BIND says otherwise.

A process that exits is started again (after 1 s, then longer), so a worker stopped by on-call
comes back as compose's `restart: unless-stopped` would bring it back; one that keeps exiting
(5 times in a minute) stops everything with its log. While it runs, `var/serve.env` holds the
environment the processes got (mode 0600), so `posbridge` commands run with the service's settings.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

from app.dev_defaults import SECRET_MAKERS, SECRETS_FILE, SETTINGS, checkout_secrets, var_dir, write_env
from app.settings import BY_NAME
from app.settings_files import SERVE_ENV
from app.tokens import make_token
from bin.stack import ROOT, EmbeddedRedis, Stack, wait_for_http, wait_for_port, wait_for_workers


def migrate_archive(url: str) -> None:
    """The archive's migrations, once, before any process starts (as compose's one-shot)."""
    import time as clock

    from app.archive.db import make_engine
    from app.archive.schema import migrate

    engine = make_engine(url, timeout=10.0)
    migrate(engine, clock.time())
    engine.dispose()


def archive_shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    from app.archive.db import engine_url

    return make_url(engine_url(url)).render_as_string(hide_password=True)


def main() -> None:
    try:
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env")
    except ImportError:
        pass
    var = var_dir()
    var.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ.get(k) or v for k, v in {**SETTINGS, **checkout_secrets(var)}.items()}
    env.setdefault("POS_BASE_URL", os.environ.get("POS_BASE_URL") or f"http://127.0.0.1:{env['POSSIM_PORT']}")
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(directory=str(var / "redis"), port=int(os.environ.get("REDIS_PORT", "6380")))
        redis.start()
        env["REDIS_URL"] = redis.url
    env["ARCHIVE_URL"] = os.environ.get("ARCHIVE_URL") or f"sqlite:///{(var / 'archive.sqlite3').resolve()}"
    migrate_archive(env["ARCHIVE_URL"])
    stack = Stack(env, log_dir=str(var / "log"))
    stack.start("possim")
    wait_for_port(int(env["POSSIM_PORT"]), 20, stack.processes["possim"])
    for name in ("web", "worker", "beat", "flower", "console"):
        stack.start(name)
    write_pids(stack, var)
    try:
        wait_for_http(f"http://127.0.0.1:{env['PORT']}/healthz", 60, stack.processes["web"])
        wait_for_port(int(env["FLOWER_PORT"]), 60, stack.processes["flower"])
        wait_for_port(int(env["CONSOLE_PORT"]), 60, stack.processes["console"])
        wait_for_workers(env.get("CELERY_BROKER_URL") or env["REDIS_URL"], 1, 60, stack.processes["worker"])
    except (TimeoutError, RuntimeError) as exc:
        print(f"start-up failed: {exc}; logs in {stack.log_dir}", file=sys.stderr)
        for label in stack.processes:
            print(f"--- {label}\n{stack.log(label)[-2000:]}", file=sys.stderr)
        stack.stop_all()
        if redis:
            redis.stop()
        sys.exit(1)
    serve_env = var / SERVE_ENV  # written before the banner: a reader who saw the banner finds it
    write_serve_env(serve_env, {k: v for k, v in stack.env.items() if k in env or k in BY_NAME})
    where = f" (embedded, AOF in {var / 'redis'})" if redis else ""
    secret = env["PAR_JWT_SECRET"] if not os.environ.get("PAR_JWT_SECRET") else None
    mine = [name for name in SECRET_MAKERS if not os.environ.get(name)]
    print(
        f"""
posbridge is running (Ctrl-C stops everything; a process that exits is started again; logs in {stack.log_dir}):
  API          http://{env["WEB_BIND"]}:{env["PORT"]}  (/posnext/..., /healthz, /readyz, /metrics, /docs)
  POS sim      {env["POS_BASE_URL"]}  (admin: /_admin/knobs, /_admin/ledger)
  Flower       http://127.0.0.1:{env["FLOWER_PORT"]}  (user:password {env["FLOWER_BASIC_AUTH"]})
  console      http://127.0.0.1:{env["CONSOLE_PORT"]}  (orders for on-call: find, redrive, replay; Flower's login)
  Redis        {env["REDIS_URL"]}{where}
  Archive      {archive_shown(env["ARCHIVE_URL"])}  (final orders after ARCHIVE_AFTER_SECONDS)
  worker, beat running
  try it       ./dev posbridge sample submit --wait   (README: the newcomer path)
  secrets      this checkout's, in {var / SECRETS_FILE}: {" ".join(f"{n}={env[n]}" for n in mine) or "(all set by you)"}
  a JWT for trying it: {make_token(secret) if secret else "(set by you: sign one with PAR_JWT_SECRET)"}
""",
        flush=True,
    )
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        supervise(stack, stopping, on_start=lambda: write_pids(stack, var))
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        serve_env.unlink(missing_ok=True)
        stack.stop_all()
        if redis:
            redis.stop()


def write_serve_env(path: Path, env: dict[str, str]) -> None:
    """The processes' environment for `posbridge` commands run beside them (secrets: mode 0600)."""
    write_env(path, env, "# written by ./dev serve while it runs: what its processes were given")


RESTARTS_PER_MINUTE = 5


def write_pids(stack: Stack, var: Path) -> None:
    """var/run/<process>.pid, so on-call can signal one process (docs/RUNBOOK.md)."""
    run_dir = var / "run"
    run_dir.mkdir(exist_ok=True)
    for label, process in stack.processes.items():
        (run_dir / f"{label}.pid").write_text(f"{process.pid}\n")


def supervise(stack: Stack, stopping: list[int], poll: float = 0.5, on_start=lambda: None) -> None:
    """Start again any process that exits; give up (and return) on one that keeps exiting."""
    exits: dict[str, deque[float]] = {label: deque() for label in stack.processes}
    due: dict[str, float] = {}
    names = {label: label for label in stack.processes}
    while not stopping:
        now = time.monotonic()
        for label, process in list(stack.processes.items()):
            if label in due:
                if now >= due[label]:
                    del due[label]
                    stack.start(names[label], label=label)
                    on_start()
                    print(f"{label} started again", flush=True)
                continue
            if process.poll() is None:
                continue
            recent = exits.setdefault(label, deque())
            recent.append(now)
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) >= RESTARTS_PER_MINUTE:
                print(
                    f"{label} exited {len(recent)} times within a minute; stopping. Its log:\n"
                    f"{stack.log(label)[-2000:]}",
                    flush=True,
                )
                return
            delay = 2 ** (len(recent) - 1)
            print(
                f"{label} exited with {process.returncode}; starting it again in {delay} s "
                f"(log: {stack.log_dir / (label + '.log')})",
                flush=True,
            )
            due[label] = now + delay
        time.sleep(poll)


if __name__ == "__main__":
    main()
