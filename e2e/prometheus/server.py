"""Run a real Prometheus as a local loopback process.

``Prometheus(workdir).start()`` writes ``prometheus.yml`` with one file_sd job,
starts the binary on ``127.0.0.1:<free port>`` with its TSDB under ``workdir``
and waits for ``/-/ready``. Targets change at run time by rewriting the file_sd
JSON atomically (``set_targets``), one file per source, so several data planes
can share one Prometheus. What runs is recorded in ``state.json`` in the
workdir, so another process can ``attach`` to it; ``stop`` ends exactly that pid
and removes nothing unless asked.

Which binary: an explicit ``binary``; else, with ``kubernetes`` (a pods job that
discovers pods through the API server), upstream Prometheus built from its Go
module (``e2e.prometheus.build``), since Debian's package is built without
kubernetes_sd; else Debian's ``prometheus`` package (``find_binary``).

Target updates reach the scrape loop in two throttled steps. The discovery
manager sends them every 5 s in 2.42; upstream 3.x after a back-off that starts
at 100 ms and grows to 5 s while updates keep coming (reset after 5 s without a
send). The scrape manager then reloads every ``--scrape.discovery-reload-interval``,
which we set to :data:`DISCOVERY_RELOAD_INTERVAL` (2.42 clamps it to 5 s).
Measurements and the file_sd re-read interval: ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from e2e.localcluster.build import BuildError
from e2e.prometheus import api, build
from e2e.prometheus.api import ActiveTarget, PrometheusError, PrometheusNotInstalled, Sample
from e2e.prometheus.config import (
    DISCOVERY_RELOAD_INTERVAL,
    FILE_SD_REFRESH_INTERVAL,
    KubernetesSD,
    Target,
    config_document,
    file_sd_document,
)

__all__ = [
    "DEFAULT_SOURCE",
    "DISCOVERY_RELOAD_INTERVAL",
    "INSTALL_HINT",
    "Prometheus",
    "find_binary",
]

INSTALL_HINT = "apt-get install -y prometheus"
DEFAULT_SOURCE = "default"
_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def find_binary(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$PROMETHEUS_BINARY``, else ``prometheus`` on ``PATH``."""
    named = explicit or os.environ.get("PROMETHEUS_BINARY") or shutil.which("prometheus")
    if not named or not os.access(named, os.X_OK):
        where = f"{named} is not an executable" if named else "prometheus is not on PATH"
        raise PrometheusNotInstalled(
            f"{where}; install Debian's package with: {INSTALL_HINT}"
            " (or set PROMETHEUS_BINARY to a prometheus binary)"
        )
    return Path(named).resolve()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int, binary: str) -> bool:
    """Whether ``pid`` still runs ``binary`` (reaping it first if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and argv0 == binary


class Prometheus:
    """A Prometheus process with its config, targets file and TSDB under ``workdir``.

    With ``kubernetes`` it also scrapes annotated pods it discovers through that
    API server (see ``config.KubernetesSD``), and runs the built upstream binary.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        scrape_interval: str = "1s",
        port: int | None = None,
        binary: Path | None = None,
        retention: str = "1d",
        kubernetes: KubernetesSD | None = None,
    ) -> None:
        self.workdir = Path(workdir).absolute()
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.kubernetes = kubernetes
        self._port = port
        self._binary = binary
        self._pid: int | None = None

    @classmethod
    def attach(cls, workdir: Path) -> Prometheus | None:
        """A handle on the Prometheus ``start`` recorded in ``workdir``, or None."""
        try:
            state = json.loads((Path(workdir) / "state.json").read_text())
        except FileNotFoundError:
            return None
        found = cls(
            workdir,
            scrape_interval=state["scrape_interval"],
            port=state["port"],
            binary=Path(state["binary"]),
        )
        found._pid = state["pid"]
        return found

    @property
    def url(self) -> str:
        if self._port is None:
            raise PrometheusError("Prometheus has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def targets_dir(self) -> Path:
        """Where file_sd reads ``*.json``: one file per source of targets."""
        return self.workdir / "targets"

    def targets_file(self, source: str = DEFAULT_SOURCE) -> Path:
        if not _SOURCE.fullmatch(source):
            raise ValueError(f"target source {source!r} is not a plain file name")
        return self.targets_dir / f"{source}.json"

    @property
    def log_file(self) -> Path:
        return self.workdir / "prometheus.log"

    def alive(self) -> bool:
        """Whether the recorded process still runs the recorded binary."""
        return (
            self._pid is not None
            and self._binary is not None
            and _alive(self._pid, str(self._binary))
        )

    def ready(self) -> bool:
        """Whether the process runs and answers ``/-/ready`` with 200."""
        return self.alive() and api.is_ready(self.url)

    def start(self, *, timeout: float = 30.0, detach: bool = False) -> None:
        """Start Prometheus and wait until it is ready; a no-op if it already runs.

        ``detach`` puts it in its own session so it outlives this process and a
        Ctrl-C in the terminal (the CLI's ``up``); otherwise it shares ours.
        """
        if self.ready():
            return
        self._binary = self._choose_binary()
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(
            config_document(
                targets_dir=self.targets_dir,
                scrape_interval=self.scrape_interval,
                kubernetes=self.kubernetes,
                file_sd_refresh=FILE_SD_REFRESH_INTERVAL if self.kubernetes else None,
            )
        )
        fixed_port = self._port is not None
        for _attempt in range(1 if fixed_port else 3):
            self._port = self._port if fixed_port else _free_port()
            self._spawn(config, detach=detach)
            if self._wait_ready(timeout):
                return
            self._kill_spawned()  # never two on one data folder
        raise PrometheusError(f"Prometheus exited during start-up:\n{self._log_tail()}")

    def _choose_binary(self) -> Path:
        """The explicit binary; else the built upstream one for kubernetes_sd (built
        now if missing, which takes minutes cold); else Debian's (``find_binary``)."""
        if self._binary is None and self.kubernetes is not None:
            try:
                return build.ensure().prometheus
            except BuildError as err:  # so that callers catch one PrometheusError
                raise PrometheusNotInstalled(
                    f"kubernetes_sd needs upstream Prometheus, and building it failed: {err}"
                ) from err
        return find_binary(self._binary)

    def _spawn(self, config: Path, *, detach: bool) -> None:
        assert self._binary is not None
        binary = str(self._binary)
        args = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self._port}",
            "--log.level=info",
            f"--scrape.discovery-reload-interval={DISCOVERY_RELOAD_INTERVAL}",
        ]
        self._pid = os.posix_spawn(
            binary,
            args,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(self.log_file),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            # Not detached: its own process group all the same, so a Ctrl-C in the
            # terminal reaches the caller only, which stops it (in order, by pid).
            **({"setsid": True} if detach else {"setpgroup": 0}),
        )
        state = {
            "pid": self._pid,
            "port": self._port,
            "binary": binary,
            "scrape_interval": self.scrape_interval,
            "url": self.url,
            "started_at": time.time(),
        }
        tmp = self.workdir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.workdir / "state.json")

    def _exited(self) -> bool:
        """Whether the process we spawned has exited.

        Asked of the child itself (``waitpid``), not of ``/proc``: between
        ``posix_spawn`` and its ``exec`` the child still shows our own command
        line, and taking that for "not running" once started three Prometheus on
        one data folder (two of them never stopped).
        """
        assert self._pid is not None
        try:
            done, _ = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:  # reaped already, or not our child
            return not self.alive()
        return done == self._pid

    def _kill_spawned(self) -> None:
        if self._pid is None or self._exited():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        while not self._exited():
            time.sleep(0.05)

    def _wait_ready(self, timeout: float) -> bool:
        """True once ready; False if the process exited; PrometheusError on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._exited():
                return False
            if self.ready():
                return True
            time.sleep(0.05)
        self.stop()
        raise PrometheusError(
            f"Prometheus was not ready within {timeout:.0f}s:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_file})"
        return f"last lines of {self.log_file}:\n" + "\n".join(text.splitlines()[-lines:])

    def set_targets(self, targets: Sequence[Target], *, source: str = DEFAULT_SOURCE) -> None:
        """Replace the targets of ``source`` (other sources' are kept) atomically.

        The JSON goes to ``<source>.tmp`` first, which file_sd never reads, and is
        renamed over ``<source>.json``. Debian's 2.42 applies it within up to 10 s
        (a 5 s discovery tick, then a 5 s reload tick); upstream 3.x within a few
        hundred milliseconds when discovery has been quiet, up to ~5 s in a burst.
        """
        path = self.targets_file(source)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(file_sd_document(targets))
        tmp.replace(path)

    def query(self, promql: str) -> list[Sample]:
        """Evaluate ``promql`` now through the HTTP API (see ``api.query``)."""
        return api.query(self.url, promql)

    def active_targets(self) -> list[ActiveTarget]:
        """The targets it scrapes now, with the health of their last scrape."""
        return api.active_targets(self.url)

    def stop(self, *, timeout: float = 10.0, remove_workdir: bool = False) -> bool:
        """Stop the recorded pid (TERM, then KILL); False if it was not running.

        Only with ``remove_workdir`` is anything deleted (config, targets, TSDB, log).
        """
        was_alive = self._pid is not None and not self._exited()
        if was_alive and self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.05)
            self._kill_spawned()
        (self.workdir / "state.json").unlink(missing_ok=True)
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return was_alive

    def __enter__(self) -> Prometheus:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
