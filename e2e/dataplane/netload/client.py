"""The host's handle on a load generator running inside a network namespace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from e2e import netns

__all__ = ["NetLoadProcess"]

ROOT = Path(__file__).resolve().parents[3]
"""The repository root, so ``-m e2e.dataplane.netload`` imports the caller's checkout."""


class NetLoadProcess:
    """``python -m e2e.dataplane.netload`` inside ``netns_name``, driven over ``control``."""

    def __init__(
        self,
        *,
        netns_name: str,
        control: Path,
        rps: float,
        targets: Sequence[str] = (),
        log_file: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.control = control
        self._argv = netns.argv_in(
            netns_name,
            [
                python,
                "-m",
                "e2e.dataplane.netload",
                f"--control={control}",
                f"--netns={netns_name}",
                f"--rps={rps}",
                *(f"--target={url}" for url in targets),
                "--exit-with-parent",
            ],
        )
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(control)), timeout=5.0, trust_env=False
        )

    def start(self, *, timeout: float = 30.0) -> NetLoadProcess:
        """Start it and wait until its control socket answers."""
        self.control.unlink(missing_ok=True)
        with open(self._log_file or os.devnull, "ab") as out:
            self._process = subprocess.Popen(
                self._argv,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"netload exited with code {self._process.returncode}")
            if self.control.exists():
                try:
                    if self._client.get("http://netload/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"netload's control socket did not answer within {timeout:g}s")

    @property
    def pid(self) -> int | None:
        """The load generator's pid (``ip netns exec`` execs it: the pid runs it)."""
        return None if self._process is None else self._process.pid

    def poll(self) -> int | None:
        """Its exit code, or None while it runs (or before ``start``)."""
        return None if self._process is None else self._process.poll()

    def counts(self) -> dict[str, Any]:
        answer = self._client.get("http://netload/counts")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def set_rate(self, rps: float) -> None:
        self._client.put("http://netload/rate", json={"rps": rps}).raise_for_status()

    def set_targets(self, urls: Sequence[str]) -> None:
        self._client.put("http://netload/targets", json={"urls": list(urls)}).raise_for_status()

    def stop(self, *, timeout: float = 10.0) -> None:
        """TERM (it waits for requests in flight), then KILL; always reaps it."""
        self._client.close()
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()

    def __enter__(self) -> NetLoadProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
