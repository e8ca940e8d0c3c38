"""docs/RUNBOOK.md runs: every `sh` block, in order, against a live `./dev serve` (python -m
bin.run) with its setup variables pointed at this stack; and the README's newcomer path —
`./dev serve`, then `./dev posbridge sample submit`, a poll, a replayed callback — works with
nothing activated."""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bin.stack import ROOT, free_port
from tests.support.serve import UNSET, read_until

POS_TOKEN = "runbook-pos-token"  # this test's stack's (the runbook reads var/serve.env)
BLOCK = re.compile(r"^\s*```(sh[^\n]*)\n(.*?)^\s*```", re.S | re.M)


def runbook_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "RUNBOOK.md").read_text()
    return [(info.strip(), re.sub(r"^ {3}", "", body, flags=re.M)) for info, body in BLOCK.findall(text)]


def readme_newcomer_block() -> str:
    text = (ROOT / "README.md").read_text()
    return next(body for info, body in BLOCK.findall(text) if info.strip() == "sh" and "sample receive" in body)


def test_the_runbook_has_its_blocks():
    kinds = [info for info, _ in runbook_blocks()]
    assert kinds.count("sh setup") == 1 and kinds.count("sh") >= 10 and "sh compose" in kinds and "sh kubectl" in kinds
    for info, body in runbook_blocks():  # the variants not run here are bash at least
        parsed = subprocess.run(["bash", "-n", "-c", body], capture_output=True, text=True, timeout=30)
        assert parsed.returncode == 0, (info, body, parsed.stderr)


def test_the_setup_block_runs_in_bash_as_written():
    """Issue 20, finding 1: `UID` is read-only in bash; the setup block must set every variable it names."""
    setup = next(body for info, body in runbook_blocks() if info == "sh setup")
    names = re.findall(r"^([A-Z_]+)=", setup, re.M)
    shown = "".join(f'printf "%s\\n" "{name}=${{{name}}}"\n' for name in names)
    done = subprocess.run(["bash", "-e", "-c", setup + "\n" + shown], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert all(re.search(rf"^{name}=\S", done.stdout, re.M) for name in names), done.stdout


def test_every_runbook_block_runs_against_dev_serve(tmp_path):
    ports = {
        name: free_port()
        for name in ("PORT", "POSSIM_PORT", "FLOWER_PORT", "REDIS_PORT", "WORKER_METRICS_PORT", "CONSOLE_PORT")
    }
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        {k: str(v) for k, v in ports.items()},
        POSBRIDGE_VAR_DIR=str(tmp_path / "var"),
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="10",
        FLOWER_BASIC_AUTH="oncall:runbook-flower-pass",
        POS_API_TOKEN=POS_TOKEN,
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "bin.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, run.stdout), lines.put(None)], daemon=True).start()
    seen: list[str] = []
    try:
        read_until(lines, "a JWT for trying it:", 120, seen)
        assert (tmp_path / "var" / "serve.env").stat().st_mode & 0o077 == 0  # secrets: the owner's only
        script = shutil.which("posbridge", path=str(Path(sys.executable).parent))
        cli_env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        for name in ("PORT", "POSSIM_PORT", "FLOWER_PORT", "WORKER_METRICS_PORT", "FLOWER_BASIC_AUTH"):
            cli_env.pop(name)  # the CLI must find them in var/serve.env, as on-call's shell would
        sample = subprocess.run(
            [script, "sample", "submit"], cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=60
        )
        assert sample.returncode == 0 and sample.stdout.startswith("HTTP 200"), sample.stdout + sample.stderr
        uid = re.search(r'"request_uid":\s*"([^"]+)"', sample.stdout).group(1)
        variables = {
            "PB": script,
            "BASE": f"http://127.0.0.1:{ports['PORT']}",
            "FLOWER": f"http://127.0.0.1:{ports['FLOWER_PORT']}",
            "FLOWER_AUTH": env["FLOWER_BASIC_AUTH"],
            "WORKER_METRICS": f"http://127.0.0.1:{ports['WORKER_METRICS_PORT']}",
            "POS": f"http://127.0.0.1:{ports['POSSIM_PORT']}",
            "POS_TOKEN": POS_TOKEN,
            "ORDER": uid,
        }
        setup = next(body for info, body in runbook_blocks() if info == "sh setup")
        assert set(re.findall(r"^([A-Z_]+)=", setup, re.M)) == set(variables), "the setup block's variables"
        # each block after the setup block as written (in bash, -e), then this stack's values
        ours = "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())
        for index, (info, body) in enumerate(runbook_blocks()):
            if info != "sh":
                continue
            done = subprocess.run(
                ["bash", "-e", "-c", f"{setup}\n{ours}{body}"],
                cwd=tmp_path,
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, (index, body, done.stdout[-2000:], done.stderr[-2000:])
            assert "Traceback" not in done.stderr, (index, body, done.stderr[-2000:])
            if "kill -TERM" in body:
                read_until(lines, "worker started again", 60, seen)
                time.sleep(3)
        # the worker stopped by the runbook came back and works: a slow order is placed by it
        assert run.poll() is None, "".join(seen)[-3000:]
        requests.put(
            f"{variables['POS']}/_admin/knobs/*",
            json={"latency_ms": 3000},
            timeout=5,
            headers={"Authorization": f"Bearer {POS_TOKEN}"},
        ).raise_for_status()
        waited = subprocess.run(
            [script, "sample", "submit", "--wait"],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert waited.returncode == 0 and waited.stdout.startswith("HTTP 202"), waited.stdout + waited.stderr
        assert waited.stdout.count('"status":"placed"') == 1, waited.stdout
        requests.post(
            f"{variables['POS']}/_admin/reset", headers={"Authorization": f"Bearer {POS_TOKEN}"}, timeout=5
        ).raise_for_status()

        # the README's newcomer path, its block as written, on this stack's ports
        newcomer = readme_newcomer_block()
        receiver_port = free_port()
        for written, actual in (
            ("./dev posbridge", script),
            ("127.0.0.1:9100", f"127.0.0.1:{ports['POSSIM_PORT']}"),
            ("127.0.0.1:8099", f"127.0.0.1:{receiver_port}"),
            ("sample receive &", f"sample receive --port {receiver_port} &"),
        ):
            assert written in newcomer, written
            newcomer = newcomer.replace(written, actual)
        newcomer = newcomer.replace("&\n", "&\nsleep 2\n", 1)  # the receiver listens before the submit
        done = subprocess.run(
            ["bash", "-e", "-c", newcomer], cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
        out = done.stdout
        assert "HTTP 200" in out and "HTTP 202" in out and out.count('"status":"placed"') >= 3, out[-3000:]
        assert out.count("callback ord-try-1: placed (x-pch-digest ok); answering 200") == 2, out[-3000:]
        assert "delivered: ord-try-1: HTTP 200" in out
        assert "ord-try-2: cancelled" in out, out[-3000:]  # the slow POS's order voided by key
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(90)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    assert not (tmp_path / "var" / "serve.env").exists()
