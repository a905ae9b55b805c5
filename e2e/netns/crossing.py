"""A host loopback port made reachable inside a network namespace, for as long as needed.

``RelayInto(netns_name=…, port=P, sock_dir=…)`` runs two :mod:`e2e.netns.relay`
processes: one on the host listening on a Unix socket in ``sock_dir`` and
connecting to ``127.0.0.1:P``, one inside the namespace listening on
``127.0.0.1:P`` there and connecting to that socket. So a process in the namespace
reaches a host server (an Unleash server, say) at the very URL the host uses.
Unlike the cluster's own relays (:mod:`e2e.localcluster.network`), these belong to
the caller and stop with its ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from e2e import netns
from e2e.netns import relay

__all__ = ["RelayInto"]

_SOCKET_PATH_MAX = 107


class RelayInto:
    """Host ``127.0.0.1:port`` as ``127.0.0.1:port`` inside ``netns_name``."""

    def __init__(
        self, *, netns_name: str, port: int, sock_dir: Path, log_file: Path | None = None
    ) -> None:
        self.port = port
        self._netns = netns_name
        self._sock = sock_dir / f"into-{port}.sock"
        if len(os.fsencode(self._sock)) > _SOCKET_PATH_MAX:
            raise netns.NetnsError(f"Unix socket path too long for the kernel: {self._sock}")
        self._ready = (sock_dir / f"into-{port}.host.ready", sock_dir / f"into-{port}.netns.ready")
        self._log_file = log_file
        self._processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, argv: list[str]) -> None:
        with open(self._log_file or os.devnull, "ab") as out:
            self._processes.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    process_group=0,  # a Ctrl-C reaches the caller only, which stops it
                )
            )

    def start(self, *, timeout: float = 20.0) -> RelayInto:
        """Start both relays and return once both listen."""
        self._sock.parent.mkdir(parents=True, exist_ok=True)
        for path in (self._sock, *self._ready):
            path.unlink(missing_ok=True)
        script = [sys.executable, relay.__file__]
        self._spawn(
            [
                *script,
                f"--listen=unix:{self._sock}",
                f"--connect=tcp:127.0.0.1:{self.port}",
                f"--ready-file={self._ready[0]}",
            ]
        )
        self._spawn(
            netns.argv_in(
                self._netns,
                [
                    *script,
                    f"--listen=tcp:127.0.0.1:{self.port}",
                    f"--connect=unix:{self._sock}",
                    f"--ready-file={self._ready[1]}",
                ],
            )
        )
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in self._ready):
            exited = [p.args for p in self._processes if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                self.stop()
                why = f"exited: {exited}" if exited else f"not listening after {timeout:g}s"
                raise netns.NetnsError(f"relay of port {self.port} into {self._netns} {why}")
            time.sleep(0.02)
        return self

    def stop(self, *, timeout: float = 5.0) -> None:
        """TERM both relays (each removes its socket), KILL after ``timeout``; reap both."""
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        for path in self._ready:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def __enter__(self) -> RelayInto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
