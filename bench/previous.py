"""Earlier mains, started the same way beside ours: the baselines every gain or cost is read against.

`bench/BASELINE` names them (the main before the speed work of issue 14, `previous`; the main
before engine v2, `engine-v1`); `--baseline REF[,REF]` names others, `none` skips them. Each is
a detached git worktree in ~/.cache/posbridge-bench/<commit>/ with a virtualenv of its own,
installed from *its* lock by *its* `./dev` (so a package ours added, hiredis say, does not speed
it up), kept for the next run. Its gunicorn runs the worktree's Procfile `web` line with the
worktree's gunicorn.conf.py, against the same redis-server (a database of its own, so no
version's records meet another's sweep) and the same POS simulator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bin.stack import ROOT, Stack

BASELINE_FILE = ROOT / "bench" / "BASELINE"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "posbridge-bench"


class Unavailable(RuntimeError):
    """The baseline commit cannot be checked out here (a shallow clone, say)."""


def baselines(refs: str | None) -> list[tuple[str, str]]:
    """(ref, label) for each baseline: bench/BASELINE's, or those named (labelled by their ref)."""
    if refs == "none":
        return []
    if refs:
        return [(ref, ref[:12]) for ref in refs.split(",") if ref]
    lines = [line.split() for line in BASELINE_FILE.read_text().splitlines() if line.strip() and line[0] != "#"]
    return [(fields[0], fields[1]) for fields in lines]


def resolve(ref: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Unavailable(f"commit {ref} is not in this clone (git fetch --unshallow, or --baseline REF)")
    return done.stdout.strip()


def checkout(ref: str) -> Path:
    """The worktree of `ref` with its own .venv, made once and kept in the cache."""
    commit = resolve(ref)
    path = CACHE / commit[:12]
    if not (path / ".venv" / ".installed").exists():
        if path.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], capture_output=True)
            shutil.rmtree(path, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True, capture_output=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit], check=True, capture_output=True
        )
        # its own ./dev installs its own lock into its own .venv (hashes checked); `lint` is the
        # cheapest subcommand that installs, and what it prints is no concern of ours
        subprocess.run(
            ["./dev", "lint"],
            cwd=path,
            capture_output=True,
            timeout=900,
            env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        )
        if not (path / ".venv" / ".installed").exists():
            raise Unavailable(f"the baseline's ./dev could not install its lock in {path}")
    return path


def stack(path: Path, env: dict[str, str], log_dir: str) -> Stack:
    """A Stack running the worktree's Procfile with the worktree's own Python and packages."""
    previous = Stack({**env, "PYTHONPATH": str(path)}, log_dir=log_dir, root=path)
    previous.env["PATH"] = f"{path / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    previous.env.pop("VIRTUAL_ENV", None)
    return previous
