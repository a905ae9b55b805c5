"""A real Matrix homeserver on loopback: Synapse with SQLite, no federation, no outbound network.

``SynapseServer(workdir).start()`` installs the pinned Synapse if needed
(:mod:`e2e.matrix.install`), has it generate a config in ``workdir`` (server name
``localhost``, a signing key), rewrites that config for tests (:func:`synapse_config`),
starts the homeserver on a free 127.0.0.1 port and waits for
``/_matrix/client/versions``. The SQLite database, the media store and the logs all
stay in ``workdir``; a second ``start`` on the same ``workdir`` keeps them (and the
accounts) and only takes a new port. ``stop`` ends the process; the workdir goes with
``remove_workdir``. The homeserver gets SIGTERM when the thread that started it
ends (Linux's parent-death signal), so a killed test run leaves no Synapse behind.

Accounts come from :meth:`SynapseServer.register`, Synapse's shared-secret admin
registration (public registration is off).

Measured start with the install cached, until ``/versions`` answers: about 4 s on an
idle machine, from a fresh workdir (config generation, then the database schema) or a
kept one alike; 5-14 s while other test suites load the machine's two cores. The first
use on a machine adds the install (about 50 s, see :mod:`e2e.matrix.install`).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import httpx
import yaml

from e2e.matrix.install import VERSION, ensure_installed

__all__ = [
    "SERVER_NAME",
    "Account",
    "SynapseError",
    "SynapseServer",
    "registration_mac",
    "synapse_config",
]

SERVER_NAME = "localhost"
# Every rate limit a test could meet while sending bursts, raised out of reach.
UNLIMITED = {"per_second": 10_000, "burst_count": 100_000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": UNLIMITED,
    "rc_registration": UNLIMITED,
    "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
    "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
    "rc_joins_per_room": UNLIMITED,
    "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
    "rc_room_creation": UNLIMITED,
    "rc_admin_redaction": UNLIMITED,
    "rc_presence": {"per_user": UNLIMITED},
    "rc_delayed_event_mgmt": UNLIMITED,
    "rc_reports": UNLIMITED,
    "rc_user_directory": UNLIMITED,
    "rc_profile": UNLIMITED,
    "rc_media_create": UNLIMITED,
    "rc_3pid_validation": UNLIMITED,
    "rc_third_party_invite": UNLIMITED,
}


class SynapseError(RuntimeError):
    """Synapse did not start, or its admin API refused a request."""


class Account(NamedTuple):
    """A registered user: the full Matrix ID (``@name:localhost``) and an access token."""

    user_id: str
    access_token: str


def synapse_config(
    generated: dict[str, Any], *, workdir: Path, port: int, shared_secret: str
) -> dict[str, Any]:
    """The generated ``homeserver.yaml`` made fit for tests on one machine.

    One plain-HTTP listener on 127.0.0.1 serving the client API (which carries the
    admin API too) and nothing else: no federation listener, no federation with any
    server, no trusted key servers (``matrix.org`` by default), no stats reporting, no
    URL previews, no metrics, and every outbound HTTP request blocked by address (the
    IP blocklist covers all of IPv4 and IPv6). Public registration is off; accounts are
    made with ``shared_secret``. Rate limits are out of reach, presence is off.
    """
    config = {key: value for key, value in generated.items() if not key.startswith("rc_")}
    config.update(
        {
            "server_name": SERVER_NAME,
            "public_baseurl": f"http://127.0.0.1:{port}/",
            "pid_file": str(workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(workdir / "homeserver.db")}},
            "log_config": str(workdir / "log.config"),
            "media_store_path": str(workdir / "media_store"),
            "signing_key_path": str(workdir / f"{SERVER_NAME}.signing.key"),
            "registration_shared_secret": shared_secret,
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "ip_range_blacklist": ["0.0.0.0/0", "::/0"],
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            **RATE_LIMITS,
        }
    )
    return config


def log_config(log_file: Path) -> dict[str, Any]:
    """Python logging straight to ``log_file`` at INFO, unbuffered (unlike Synapse's
    generated one), so the tail shown on a failed start is complete."""
    return {
        "version": 1,
        "formatters": {"precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "formatter": "precise",
                     "filename": str(log_file), "encoding": "utf8"},
        },
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }  # fmt: skip


def registration_mac(
    shared_secret: str, *, nonce: str, username: str, password: str, admin: bool
) -> str:
    """The ``mac`` of Synapse's shared-secret registration: hex HMAC-SHA1 keyed with the
    secret over ``nonce``, ``username``, ``password`` and ``admin``/``notadmin``, NUL-separated."""
    message = "\0".join([nonce, username, password, "admin" if admin else "notadmin"])
    return hmac.new(shared_secret.encode(), message.encode(), hashlib.sha1).hexdigest()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SynapseServer:
    """One Synapse homeserver under ``workdir``, on a loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).absolute()
        self.port = 0
        self.shared_secret = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client API's base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def server_name(self) -> str:
        """The domain part of every user and room ID here (``localhost``)."""
        return SERVER_NAME

    @property
    def config_path(self) -> Path:
        return self.workdir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "homeserver.log"

    def start(self, *, timeout: float = 60.0) -> SynapseServer:
        """Install if needed, configure, start; ready when ``/_matrix/client/versions``
        answers 200. Raises :class:`SynapseError` with the log's tail otherwise.
        Does nothing while the homeserver already runs."""
        if self.alive():
            return self
        install = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        generated = self.workdir / "generated.yaml"
        if not generated.exists():
            self._generate(install.python, generated)
        self.port = _free_port()
        base = yaml.safe_load(generated.read_text())
        self.shared_secret = str(base["registration_shared_secret"])
        config = synapse_config(
            base, workdir=self.workdir, port=self.port, shared_secret=self.shared_secret
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        (self.workdir / "log.config").write_text(yaml.safe_dump(log_config(self.log_path)))
        out = open(self.workdir / "synapse.out", "ab")  # noqa: SIM115 - the child keeps it
        self._process = subprocess.Popen(
            [str(install.python), "-m", "synapse.app.homeserver",
             "--config-path", str(self.config_path)],
            env=_environment(self.workdir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=_terminate_with_parent,  # noqa: PLW1509 - one libc call, no locks
        )  # fmt: skip
        out.close()
        self._wait(timeout)
        return self

    def _generate(self, python: Path, target: Path) -> None:
        """Synapse's own ``--generate-config`` (signing key, macaroon and form secrets)
        into ``target``; the shared secret it writes is replaced by a fresh random one."""
        done = subprocess.run(
            [str(python), "-m", "synapse.app.homeserver", "--generate-config",
             "--server-name", SERVER_NAME, "--config-path", str(target),
             "--data-directory", str(self.workdir), "--report-stats=no"],
            check=False,
            capture_output=True,
            text=True,
            cwd=self.workdir,
            env=_environment(self.workdir),
        )  # fmt: skip
        if done.returncode != 0:
            raise SynapseError(f"synapse --generate-config failed:\n{done.stderr[-2000:]}")
        config = yaml.safe_load(target.read_text())
        config["registration_shared_secret"] = secrets.token_hex(32)
        target.write_text(yaml.safe_dump(config, sort_keys=True))

    def _wait(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.url}/_matrix/client/versions", timeout=1.0)
                if response.status_code == 200:
                    return
            time.sleep(0.1)
        tail = []
        for log in (self.workdir / "synapse.out", self.log_path):
            if log.exists():
                tail += log.read_text(errors="replace").splitlines()[-15:]
        self.stop()
        raise SynapseError(
            f"Synapse {VERSION} did not become ready within {timeout:.0f}s:\n" + "\n".join(tail)
        )

    def register(self, username: str, *, admin: bool = False) -> Account:
        """A new account ``@username:localhost`` through ``/_synapse/admin/v1/register``
        (a nonce, then the form with its HMAC); its password is random and unused."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        with httpx.Client(timeout=10.0) as http:
            nonce = http.get(endpoint).raise_for_status().json()["nonce"]
            password = secrets.token_urlsafe(16)
            mac = registration_mac(
                self.shared_secret, nonce=nonce, username=username, password=password, admin=admin
            )
            response = http.post(
                endpoint,
                json={"nonce": nonce, "username": username, "password": password,
                      "admin": admin, "mac": mac},
            )  # fmt: skip
        if response.status_code != 200:
            raise SynapseError(f"registering {username!r} failed: {response.text}")
        body = response.json()
        return Account(user_id=str(body["user_id"]), access_token=str(body["access_token"]))

    def stop(self, *, remove_workdir: bool = False) -> None:
        """End Synapse (SIGTERM, then SIGKILL after 15 s); remove the workdir if asked."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pids(self) -> list[int]:
        """The homeserver's pid while started (one process: no workers)."""
        return [self._process.pid] if self._process is not None else []

    def alive(self) -> bool:
        """Whether the homeserver process still runs."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> SynapseServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _terminate_with_parent() -> None:
    """In the child before ``exec``: ask Linux for SIGTERM when the parent thread ends."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _environment(workdir: Path) -> dict[str, str]:
    """A clean environment: no proxy variables, no project ``PYTHONPATH``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
    }
