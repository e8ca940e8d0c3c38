"""`./dev serve`'s defaults for the settings it does not get: its own settings, and this
checkout's development secrets (random, made once, kept in var/dev-secrets.env, mode 0600).
bin/run.py starts the service with them; `posbridge sample`, `sign` and `token` read them when
the configuration does not say (app/cli/sample.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

from app.settings import environment

ROOT = Path(__file__).resolve().parent.parent  # the checkout (bin/stack.py's ROOT)
SECRETS_FILE = "dev-secrets.env"  # in POSBRIDGE_VAR_DIR: this checkout's development secrets
SECRET_MAKERS = {
    "POS_API_TOKEN": lambda: secrets.token_urlsafe(24),
    "PAR_SHARED_ID": lambda: secrets.token_urlsafe(24),
    "PAR_JWT_SECRET": lambda: secrets.token_urlsafe(32),  # 43 characters: HS256 wants 32 bytes or more
    "FLOWER_BASIC_AUTH": lambda: f"oncall:{secrets.token_urlsafe(18)}",
}
SETTINGS = {
    "CALLBACK_ALLOW_PRIVATE": "true",
    "PORT": "8000",
    "WEB_BIND": "127.0.0.1",  # this machine only, unless told otherwise
    "POSSIM_PORT": "9100",
    "FLOWER_PORT": "5555",
    "CONSOLE_PORT": "5556",
    "WORKER_METRICS_PORT": "9808",  # the worker's own /metrics, as in compose (docs/RUNBOOK.md)
    "WORKER_METRICS_ADDRESS": "127.0.0.1",
}


def var_dir() -> Path:
    return Path(environment().get("POSBRIDGE_VAR_DIR") or ROOT / "var")  # logs, Redis's AOF, beat's file, secrets


def write_env(path: Path, env: dict[str, str], heading: str) -> None:
    """NAME='value' lines (a shell can source them), the owner's only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(heading + "\n")
        for name, value in sorted(env.items()):
            fh.write(f"{name}='{value}'\n" if "'" not in value else f'{name}="{value}"\n')


def checkout_secrets(var: Path) -> dict[str, str]:
    """This checkout's development secrets: made at random the first time, then read again."""
    from dotenv import dotenv_values

    path = var / SECRETS_FILE
    kept = {k: v for k, v in dotenv_values(path).items() if v} if path.exists() else {}
    made = {name: make() for name, make in SECRET_MAKERS.items() if not kept.get(name)}
    if made:
        var.mkdir(parents=True, exist_ok=True)
        write_env(path, {**kept, **made}, "# ./dev serve's secrets for this checkout (made at random; delete to renew)")
    return {**kept, **made}


class _DevDefaults(Mapping[str, str]):
    """./dev serve's defaults: its settings, and this checkout's secrets (read when asked for)."""

    def _values(self) -> dict[str, str]:
        return {**SETTINGS, **checkout_secrets(var_dir())}

    def __getitem__(self, name: str) -> str:
        return self._values()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


DEV_DEFAULTS: Mapping[str, str] = _DevDefaults()
