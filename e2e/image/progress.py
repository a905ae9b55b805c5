"""A long command's output streamed, and a heartbeat on stderr at least every 20 s.

:class:`Heartbeat` is pure (lines and clock readings in, the line to print out);
:func:`run` is the loop that feeds it.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

EVERY = 20.0
"""Seconds between two heartbeats."""

TAIL = 40
"""Lines of output kept for the error message."""


@dataclass
class Heartbeat:
    """What a command printed since ``started``, and what to say about it when."""

    label: str
    started: float
    every: float = EVERY
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))
    _last_said: float = field(init=False)
    _lines_since: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._last_said = self.started

    def seen(self, line: str) -> None:
        if line.strip():
            self.tail.append(line.rstrip())
            self._lines_since += 1

    def due(self, now: float) -> str | None:
        """The heartbeat to print at ``now``, or None if the last one is recent enough."""
        if now - self._last_said < self.every:
            return None
        self._last_said = now
        elapsed = f"{int(now - self.started)}s elapsed"
        if not self._lines_since:
            return f"{self.label}: {elapsed} (no output since the last report)"
        self._lines_since = 0
        return f"{self.label}: {elapsed}; last: {self.tail[-1][:160]}"


class CommandFailed(RuntimeError):
    """A build command exited non-zero; the message ends with its last lines."""


def run(
    argv: list[str],
    *,
    label: str,
    say: Callable[[str], None],
    cwd: Path | None = None,
    every: float = EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``argv`` (stdout and stderr merged), ``say``-ing each heartbeat; raise
    :class:`CommandFailed` with the output's tail if it fails."""
    beat = Heartbeat(label=label, started=clock(), every=every)
    lines: queue.Queue[str | None] = queue.Queue()
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def pump(stream: IO[str]) -> None:
        for line in iter(stream.readline, ""):
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        done = False
        while not done:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                pass
            else:
                if line is None:
                    done = True
                else:
                    beat.seen(line)
            message = beat.due(clock())
            if message:
                say(message)
        returncode = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
    if returncode != 0:
        tail = "\n".join(beat.tail)
        raise CommandFailed(f"{label} failed (exit {returncode}): {' '.join(argv)}\n{tail}")
