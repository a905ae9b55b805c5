"""``landinggear watch web --until-done`` as the demo's live view.

On a terminal the watch owns the screen and redraws in place, exactly as a
user would see it. Otherwise (a pipe, a test) its frames go to a log file, the
recorder prints one line per change instead, and the last frame is kept to be
shown once the release is decided.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from e2e.demo.stack import ROOT

__all__ = ["LiveWatch"]


class LiveWatch:
    """One ``python -m controller watch`` process for one release."""

    def __init__(
        self,
        *,
        kubeconfig: str,
        namespace: str,
        name: str,
        log_file: Path,
        timeout: float,
        on_terminal: bool,
    ) -> None:
        self.log_file = log_file
        self.on_terminal = on_terminal
        self.last_frame = ""
        self._frame: list[str] = []
        self._args = [
            sys.executable,
            "-m",
            "controller",
            "watch",
            name,
            f"--kubeconfig={kubeconfig}",
            f"--namespace={namespace}",
            "--until-done",
            f"--timeout={int(timeout)}s",
        ]
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> LiveWatch:
        if self.on_terminal:
            self._proc = subprocess.Popen(self._args, cwd=ROOT, stdin=subprocess.DEVNULL, text=True)
        else:
            self._proc = subprocess.Popen(
                self._args,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self._reader = threading.Thread(target=self._read, name="watch-reader", daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        with open(self.log_file, "w") as log:
            for line in self._proc.stdout:
                log.write(line)
                if line.strip():
                    self._frame.append(line.rstrip("\n"))
                elif self._frame:  # frames are separated by an empty line
                    self.last_frame, self._frame = "\n".join(self._frame), []
        if self._frame:
            self.last_frame = "\n".join(self._frame)

    def wait(self, timeout: float) -> int | None:
        """The watch's exit code (0 done, 2 degraded), or None if it still runs."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(5)
        return code

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)
