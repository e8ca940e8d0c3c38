"""Faults on tracks, and the record of each.

A track is a thread that injects every kind of its list in a shuffled round, round after round,
until the run stops it and it has done the rounds wanted (so every kind runs in every run). Each
fault is recorded as a Window (its kind, start, end, what was done), for the checks to know when
a 503 or no answer was to be expected. A failed fault is recorded too, and listed in `errors`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Window:
    kind: str
    start: float
    end: float
    detail: str = ""
    host: str = ""  # the base URL a window is about, when it is about one host only


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` to a process's group (started with start_new_session), if it still runs."""
    if process.poll() is None:
        os.killpg(process.pid, sig)


def kill_group(process: subprocess.Popen[bytes], wait: float = 10) -> None:
    """SIGKILL a process group: no shutdown of its own."""
    signal_group(process, signal.SIGKILL)
    process.wait(wait)


def freeze_group(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP a process group: it keeps its sockets and claims and does nothing."""
    signal_group(process, signal.SIGSTOP)


def thaw_group(process: subprocess.Popen[bytes]) -> None:
    signal_group(process, signal.SIGCONT)


class Tracks:
    """Tracks of faults. `aliases`: a kind recorded also under the kind whose checks excuse it;
    `uncounted`: kinds of windows that are not faults of their own (count leaves them out, and
    the aliases' windows); `join`: how long stop waits for a fault under way."""

    def __init__(
        self,
        rng: random.Random,
        scale: float = 1.0,
        rounds: int = 1,
        aliases: dict[str, str] | None = None,
        uncounted: tuple[str, ...] = (),
        join: float = 120,
    ):
        self.rng = rng
        self.scale = scale  # the gaps (and the faults' own lengths) times this
        self.rounds_wanted = rounds
        self.aliases = aliases or {}
        self.uncounted = {*self.aliases.values(), *uncounted}
        self.join = join
        self.windows: list[Window] = []
        self.errors: list[str] = []
        self.rounds: dict[str, int] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def track(self, name: str, kinds: tuple[str, ...], inject: Callable[[str], str], gaps: tuple[float, float]) -> None:
        """A track: `inject(kind)` does a fault and says what it did; a gap drawn from `gaps` before each."""
        self.rounds[name] = 0
        self.threads.append(
            threading.Thread(target=self._run, args=(name, kinds, inject, gaps), name=f"faults-{name}", daemon=True)
        )

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.join)

    def done(self) -> bool:
        """Every track has done its rounds."""
        return all(n >= self.rounds_wanted for n in self.rounds.values())

    def record(self, kind: str, start: float, end: float, detail: str, host: str = "") -> None:
        with self.lock:
            self.windows.append(Window(kind, start, end, detail, host=host))

    def count(self) -> dict[str, int]:
        """Faults by kind."""
        counts: dict[str, int] = {}
        for window in self.windows:
            if window.kind not in self.uncounted:
                counts[window.kind] = counts.get(window.kind, 0) + 1
        return counts

    def _run(self, name: str, kinds: tuple[str, ...], inject: Callable[[str], str], gaps: tuple[float, float]) -> None:
        while self.rounds[name] < self.rounds_wanted or not self.stopping.is_set():
            round_ = list(kinds)
            self.rng.shuffle(round_)
            for kind in round_:
                waited = self.stopping.wait(self.rng.uniform(*gaps) * self.scale)
                if waited and self.rounds[name] >= self.rounds_wanted:
                    return
                started = time.time()
                try:
                    detail = inject(kind)
                except Exception as exc:  # noqa: BLE001 - a failed fault is reported, never hidden
                    detail = f"failed: {type(exc).__name__}: {exc}"
                    self.errors.append(f"{kind}: {detail}")
                ended = time.time()
                with self.lock:
                    self.windows.append(Window(kind, started, ended, detail))
                    if kind in self.aliases:
                        self.windows.append(Window(self.aliases[kind], started, ended, f"as {kind}"))
            self.rounds[name] += 1
