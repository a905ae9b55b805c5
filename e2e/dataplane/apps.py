"""One demo app process per revision: ``python -m e2e.demoapp`` on a free loopback port.

The process is a child of the data plane in its own process group, so a Ctrl-C
in the terminal reaches only the data plane, which stops each app by its pid
(TERM, then KILL). An app also exits by itself when the data plane is gone
(``--exit-with-parent``), so a killed data plane leaves no app behind.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from e2e.dataplane.desired import Behaviour

__all__ = ["AppProcess", "FlagServer"]

ROOT = Path(__file__).resolve().parents[2]
"""The repository root, so ``-m e2e.demoapp`` imports whatever the caller's checkout holds."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class FlagServer:
    """Where apps whose revision names a ``FLAG`` evaluate it: exactly one of

    - ``unleash_url`` and ``token``: an Unleash server and a backend (client)
      token, handed to the app's process in its environment; the app runs the
      Unleash SDK (``--unleash-url``);
    - ``flagd_file``: a flagd JSON file (kept in sync with a FeatureFlag by
      :class:`~e2e.dataplane.flagsync.FlagSpecSync`); the app runs the OpenFeature
      SDK with flagd's in-process resolver on it (``--flagd-file``).
    """

    unleash_url: str = ""
    token: str = ""
    flagd_file: Path | None = None

    def __post_init__(self) -> None:
        if bool(self.unleash_url) == (self.flagd_file is not None):
            raise ValueError("a FlagServer needs exactly one of unleash_url and flagd_file")

    def app_args(self) -> list[str]:
        """The demo app's flag-source argument."""
        if self.flagd_file is not None:
            # the app runs in the repository root: hand it an absolute path
            return [f"--flagd-file={self.flagd_file.resolve()}"]
        return [f"--unleash-url={self.unleash_url}"]

    def app_env(self) -> dict[str, str]:
        """Variables the demo app's process needs besides its arguments."""
        return {"UNLEASH_API_TOKEN": self.token} if self.unleash_url else {}


class AppProcess:
    """Starts ``e2e.demoapp`` for one revision; ``answering`` once it accepts connections."""

    def __init__(
        self,
        *,
        revision: str,
        behaviour: Behaviour,
        seed: int | None = None,
        log_file: Path | None = None,
        python: str = sys.executable,
        flags: FlagServer | None = None,
    ) -> None:
        self.revision = revision
        self.behaviour = behaviour
        self.port = _free_port()
        self.log_file = log_file
        self._answering = False
        args = [
            python,
            "-m",
            "e2e.demoapp",
            f"--port={self.port}",
            f"--revision={revision}",
            f"--error-rate={behaviour.error_rate}",
            f"--latency-ms={behaviour.latency_ms}",
            f"--latency-jitter-ms={behaviour.latency_jitter_ms}",
            f"--errors-after-seconds={behaviour.errors_after_seconds}",
            "--exit-with-parent",
        ]
        if seed is not None:
            args.append(f"--seed={seed}")
        env = dict(os.environ)
        if behaviour.flag and flags is not None:
            args += [
                f"--flag={behaviour.flag}",
                f"--flag-error-rate={behaviour.flag_error_rate}",
                *flags.app_args(),
            ]
            env.update(flags.app_env())
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file or os.devnull, "ab") as out:
            self._process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C reaches the data plane only, which stops its apps
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self._process.poll()

    def answering(self) -> bool:
        """Whether it has accepted a TCP connection (checked until it once has)."""
        if not self._answering and self.exit_code() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                self._answering = True
        return self._answering and self.exit_code() is None

    def stop(self, *, timeout: float = 5.0) -> None:
        """TERM, then KILL after ``timeout`` seconds; always reaps the process."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process.wait()
