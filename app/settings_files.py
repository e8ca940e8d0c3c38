"""What the settings table generates (.env.example, the README's table) and where command-line
tools find the configuration the running service uses (the environment, var/serve.env, .env)."""

from __future__ import annotations

import os

from app.settings import REQUIRED, VARIABLES, D, P, S, environment

SERVE_ENV = "serve.env"  # in POSBRIDGE_VAR_DIR: the environment a running `./dev serve` gave its processes


def cli_environment(directory: str | None = None) -> dict[str, str]:
    """What a command-line tool configures itself from, as the service it talks to does: this
    process's environment, then `var/serve.env` (written by `./dev serve`, removed when it stops),
    then `.env` (docker compose and ./dev serve read it too), all from the current directory."""
    from dotenv import dotenv_values

    base = directory or os.getcwd()
    var_dir = os.path.join(base, environment().get("POSBRIDGE_VAR_DIR") or "var")
    merged: dict[str, str] = {}
    for path in (os.path.join(base, ".env"), os.path.join(var_dir, SERVE_ENV)):
        if os.path.isfile(path):
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(environment())
    return merged


def operator() -> str:
    """Who runs a CLI command, for the order's history (`by: cli/<operator>`)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def readme_table() -> str:
    """The README's configuration table, from the table: `posbridge config readme-table`."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for var in VARIABLES:
        where = {"process": " (process)", "compose": "", "dev": ""}.get(var.group, "")
        lines.append(f"| `{var.name}` | {var.documented_default} | {var.meaning}{where} |")
    return "\n".join(lines) + "\n"


def env_example() -> str:
    """.env.example, from the table: `posbridge config env-example > .env.example`."""
    lines = [
        "# posbridge configuration: `cp .env.example .env`, then fill in every blank secret.",
        "# Generated from app/settings.py VARIABLES (posbridge config env-example); a test keeps it so.",
        "# docker compose reads .env for every service; ./dev serve and the posbridge CLI read it too.",
        "# A line left commented out means the default shown. A secret may come from a file instead:",
        "# NAME_FILE=/run/secrets/name. The secrets are blank on purpose: each comment says where to",
        "# find or how to make one; no process takes a value this repository ever documented as an",
        "# example. ./dev serve needs none of them: it makes its own, per checkout, under var/.",
    ]
    titles = {
        S: "the service (app/)",
        P: "the processes (Procfile, gunicorn.conf.py, workers/flower.py)",
        "compose": "docker compose only",
        D: "./dev serve only",
    }
    for group, title in titles.items():
        lines += ["", f"# --- {title} " + "-" * (90 - len(title))]
        for var in (v for v in VARIABLES if v.group == group):
            lines.append(f"# {var.meaning[0].upper()}{var.meaning[1:]}. Default: {var.documented_default}.")
            if var.how:
                lines.append(f"# Make or find one: {var.how}")
            if var.example is not None:
                lines.append(f"{var.name}={var.example}")
            else:
                shown = "" if var.default in (REQUIRED, None) else var.documented_default
                lines.append(f"# {var.name}={shown}")
    return "\n".join(lines) + "\n"
