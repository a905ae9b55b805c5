"""A real Unleash server on loopback: Debian's PostgreSQL and ``unleash-server`` from npm.

``UnleashServer(workdir).start()`` creates a PostgreSQL cluster in a
temporary folder (``initdb``, trust auth on 127.0.0.1 only), starts ``postgres`` on a
free loopback port, creates the ``unleash`` database, then runs the pinned
``unleash-server`` (:mod:`e2e.unleash.install`) on another free loopback port
with an admin API token and a backend (client) token for the ``production``
environment, and waits for ``/health``. ``stop`` ends both; the workdir goes
with ``remove_workdir``. PostgreSQL refuses to run as root, so as root it runs
as the ``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from e2e.unleash.install import VERSION, ensure_installed

__all__ = ["INSTALL_HINT", "UnleashError", "UnleashServer", "postgres_bin"]

INSTALL_HINT = "apt-get install -y postgresql nodejs npm"
ENVIRONMENT = "production"


class UnleashError(RuntimeError):
    pass


def postgres_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (Debian's layout)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise UnleashError(f"PostgreSQL is not installed; install it with: {INSTALL_HINT}")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres() -> dict[str, Any]:
    """``subprocess`` arguments that run a child as the ``postgres`` user when we are root
    (PostgreSQL refuses root); none otherwise."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise UnleashError(
            f"running as root needs the postgres user of Debian's package: {INSTALL_HINT}"
        ) from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class UnleashServer:
    """PostgreSQL and Unleash under ``workdir``, both on loopback ports."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).absolute()
        self.admin_token = f"*:*.{secrets.token_hex(16)}"
        self.client_token = f"default:{ENVIRONMENT}.{secrets.token_hex(16)}"
        self.port = 0
        self.db_port = 0
        self._postgres: subprocess.Popen[bytes] | None = None
        self._unleash: subprocess.Popen[bytes] | None = None
        self._modules = Path()
        self._pg_dir: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def environment(self) -> str:
        return ENVIRONMENT

    def start(self, *, timeout: float = 120.0) -> UnleashServer:
        """PostgreSQL, then Unleash; ready when ``/health`` answers."""
        self._modules = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_postgres(timeout)
        self.port = _free_port()
        self.start_unleash(timeout=timeout)
        return self

    def start_unleash(self, *, timeout: float = 60.0) -> None:
        """(Re)start the Unleash process on its port, its database kept (after
        :meth:`stop_unleash`: an outage of the flag provider)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "DATABASE_URL": f"postgres://unleash@127.0.0.1:{self.db_port}/unleash",
            "DATABASE_SSL": "false",
            "INIT_ADMIN_API_TOKENS": self.admin_token,
            "INIT_BACKEND_API_TOKENS": self.client_token,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "warn",
            "CHECK_VERSION": "false",
            "SEND_TELEMETRY": "false",
        }
        log = open(self.workdir / "unleash.log", "ab")  # noqa: SIM115 - the child keeps it
        self._unleash = subprocess.Popen(
            ["node", str(self._modules / "unleash-server" / "dist" / "server.js")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            process_group=0,  # a Ctrl-C reaches the caller only, which stops it in order
        )
        log.close()
        self._wait(
            lambda: httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200,
            self._unleash,
            timeout,
            f"Unleash {VERSION}",
            self.workdir / "unleash.log",
        )

    def stop_unleash(self) -> None:
        """Stop the Unleash process only (its port refuses connections until restarted)."""
        _terminate(self._unleash)
        self._unleash = None

    def _start_postgres(self, timeout: float) -> None:
        """A fresh PostgreSQL cluster in its own folder under the system's temporary
        directory (the ``postgres`` user may not reach into ``workdir``)."""
        pg = postgres_bin()
        self._pg_dir = Path(tempfile.mkdtemp(prefix="landinggear-unleash-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._pg_dir, "postgres", "postgres")
        data = self._pg_dir / "data"
        done = subprocess.run(
            [str(pg / "initdb"), "-D", str(data), "-U", "unleash", "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            check=False,
            capture_output=True,
            text=True,
            cwd=self._pg_dir,
            process_group=0,  # a Ctrl-C reaches the caller only, which stops it in order
            **_as_postgres(),
        )  # fmt: skip
        if done.returncode != 0:
            raise UnleashError(f"initdb failed:\n{done.stderr[-2000:]}")
        self.db_port = _free_port()
        log = open(self.workdir / "postgres.log", "ab")  # noqa: SIM115 - the child keeps it
        self._postgres = subprocess.Popen(
            [str(pg / "postgres"), "-D", str(data), "-h", "127.0.0.1",
             "-p", str(self.db_port), "-k", str(self._pg_dir), "-c", "fsync=off"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._pg_dir,
            process_group=0,  # a Ctrl-C reaches the caller only, which stops it in order
            **_as_postgres(),
        )  # fmt: skip
        log.close()
        log_path = self.workdir / "postgres.log"
        self._wait(self._database_ready, self._postgres, timeout, "PostgreSQL", log_path)

    def _database_ready(self) -> bool:
        pg = postgres_bin()
        address = ["-h", "127.0.0.1", "-p", str(self.db_port), "-U", "unleash"]
        probe = [str(pg / "pg_isready"), *address]
        if subprocess.run(probe, check=False, capture_output=True).returncode:
            return False
        created = subprocess.run(
            [str(pg / "psql"), *address, "-d", "postgres", "-tAc",
             "SELECT 1 FROM pg_database WHERE datname = 'unleash'"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if created.stdout.strip() != "1":
            subprocess.run(
                [str(pg / "createdb"), *address, "unleash"], capture_output=True, check=True
            )
        return True

    def _wait(
        self,
        ready: object,
        process: subprocess.Popen[bytes],
        timeout: float,
        what: str,
        log: Path,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError, OSError):
                if ready():  # type: ignore[operator]
                    return
            time.sleep(0.1)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        self.stop()
        raise UnleashError(f"{what} did not become ready within {timeout:.0f}s:\n{tail}")

    def stop(self, *, remove_workdir: bool = False) -> None:
        for process in (self._unleash, self._postgres):
            _terminate(process)
        self._unleash = self._postgres = None
        if self._pg_dir is not None:
            shutil.rmtree(self._pg_dir, ignore_errors=True)
            self._pg_dir = None
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        """The running processes' pids (PostgreSQL's postmaster, then Unleash)."""
        return [p.pid for p in (self._postgres, self._unleash) if p is not None]

    def alive(self) -> bool:
        """Whether both processes still run."""
        running = [p for p in (self._postgres, self._unleash) if p is not None]
        return len(running) == 2 and all(p.poll() is None for p in running)

    def admin(self) -> httpx.Client:
        """A client for the admin API with the admin token."""
        return httpx.Client(
            base_url=f"{self.url}/api/admin", headers={"Authorization": self.admin_token}
        )

    def __enter__(self) -> UnleashServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
