"""`./dev serve` (bin/run.py) starts again a process that exits, and gives up on one that keeps
exiting; it writes the pid files and serve.env the runbook and the CLI use."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from bin.run import RESTARTS_PER_MINUTE, supervise, write_pids, write_serve_env


class Exited:
    def __init__(self, code=None):
        self.returncode = code
        self.pid = 4242

    def poll(self):
        return self.returncode


class FakeStack:
    def __init__(self, exit_after_start: bool):
        self.processes = {"web": Exited(None), "worker": Exited(1)}
        self.started: list[str] = []
        self.exit_after_start = exit_after_start
        self.log_dir = Path("/tmp")

    def start(self, name, label=None):
        self.started.append(label or name)
        self.processes[label or name] = Exited(1 if self.exit_after_start else None)
        return self.processes[label or name]

    def log(self, label):
        return f"{label}'s log"


def test_an_exited_process_is_started_again(monkeypatch):
    monkeypatch.setattr("bin.run.time.sleep", lambda _s: None)
    stack = FakeStack(exit_after_start=False)
    stopping: list[int] = []
    restarted = threading.Event()
    starts = []

    def on_start():
        starts.append(1)
        restarted.set()
        stopping.append(1)

    supervise(stack, stopping, poll=0, on_start=on_start)
    assert stack.started == ["worker"] and starts == [1]
    assert stack.processes["web"].poll() is None


def test_a_process_that_keeps_exiting_stops_everything(monkeypatch, capsys):
    clock = [0.0]
    monkeypatch.setattr("bin.run.time.monotonic", lambda: clock[0])

    def sleep(_seconds):
        clock[0] += 1.0

    monkeypatch.setattr("bin.run.time.sleep", sleep)
    stack = FakeStack(exit_after_start=True)
    supervise(stack, [], poll=0)  # returns: gave up
    assert stack.started == ["worker"] * (RESTARTS_PER_MINUTE - 1)
    assert f"worker exited {RESTARTS_PER_MINUTE} times within a minute; stopping" in capsys.readouterr().out


def test_pid_files_and_serve_env(tmp_path):
    stack = FakeStack(exit_after_start=False)
    write_pids(stack, tmp_path)
    assert (tmp_path / "run" / "worker.pid").read_text() == "4242\n"
    write_serve_env(tmp_path / "serve.env", {"PAR_JWT_SECRET": "s3cret'quote", "PORT": "8001"})
    mode = stat.S_IMODE(os.stat(tmp_path / "serve.env").st_mode)
    assert mode == 0o600
    from dotenv import dotenv_values

    assert dotenv_values(tmp_path / "serve.env") == {"PAR_JWT_SECRET": "s3cret'quote", "PORT": "8001"}
