"""Progress of a long ``go`` command: a heartbeat on stderr at least every 30 s.

A cold Kubernetes build takes a quarter of an hour on two cores; with go's output
captured, a newcomer saw nothing between "Building …" and "Built …". Here go's
output is streamed instead: :class:`GoProgress` (pure: the lines seen and a clock
reading in, the line to print out) counts the packages go compiles (``go build
-v`` prints each one's import path) and the modules it downloads (``go:
downloading …``), and :func:`run` is the thin loop that feeds it and prints.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

EVERY = 20.0
"""Seconds between two heartbeats (below the 30 s promised, with room for a slow tick)."""

TAIL = 40
"""Lines of go's output kept for the error message."""

_IMPORT_PATH = re.compile(r"^[A-Za-z0-9_.~+\-]+(?:/[A-Za-z0-9_.~+\-]+)*$")


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@dataclass
class GoProgress:
    """What go has printed since ``started``, and what to say about it when."""

    label: str
    started: float
    every: float = EVERY
    packages: int = 0
    downloads: int = 0
    doing: str = "starting"
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))
    _last_said: float = field(init=False)
    _lines_since: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._last_said = self.started

    def seen(self, line: str, *, stderr: bool = True) -> None:
        """Take one line of go's output (stdout lines only go to the tail)."""
        self.tail.append(line)
        if not stderr:
            return
        self._lines_since += 1
        text = line.strip()
        if text.startswith("go: downloading "):
            self.downloads += 1
            self.doing = "downloading " + text.removeprefix("go: downloading ")
        elif text.startswith("go: "):
            self.doing = text.removeprefix("go: ")
        elif _IMPORT_PATH.match(text):  # `-v`: each package as go compiles it
            self.packages += 1
            self.doing = "compiling " + text

    def due(self, now: float) -> str | None:
        """The heartbeat to print at ``now``, or None if the last one is recent enough."""
        if now - self._last_said < self.every:
            return None
        self._last_said = now
        counts = [f"{_elapsed(now - self.started)} elapsed"]
        if self.packages:
            counts.append(_count(self.packages, "package") + " compiled")
        if self.downloads:
            counts.append(_count(self.downloads, "module") + " downloaded")
        quiet = "" if self._lines_since else " (no output from go since the last report)"
        self._lines_since = 0
        return f"{self.label}: {', '.join(counts)}; now {self.doing}{quiet}"


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    tail: list[str]


def run(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    label: str,
    say: Callable[[str], None],
    every: float = EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> Finished:
    """Run ``argv``, streaming its output into a :class:`GoProgress` and ``say``-ing
    each heartbeat; return its exit code, stdout, and the last lines of its output."""
    progress = GoProgress(label=label, started=clock(), every=every)
    lines: queue.Queue[tuple[bool, str | None]] = queue.Queue()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def pump(stream: IO[str], is_stderr: bool) -> None:
        for line in iter(stream.readline, ""):
            lines.put((is_stderr, line.rstrip("\n")))
        lines.put((is_stderr, None))

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, False), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, True), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    stdout: list[str] = []
    open_streams = len(pumps)
    try:
        while open_streams:
            try:
                is_stderr, line = lines.get(timeout=min(1.0, every / 4))
            except queue.Empty:
                pass
            else:
                if line is None:
                    open_streams -= 1
                else:
                    progress.seen(line, stderr=is_stderr)
                    if not is_stderr:
                        stdout.append(line)
            message = progress.due(clock())
            if message:
                say(message)
        returncode = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for thread in pumps:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return Finished(returncode, "\n".join(stdout) + "\n" if stdout else "", list(progress.tail))
