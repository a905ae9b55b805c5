"""Start, inspect and stop a local control plane made of real upstream processes.

etcd → kube-apiserver → kube-controller-manager, kube-scheduler, kwok, each a
process on loopback, in its own session so it outlives the ``up`` command; then
kube-proxy inside the cluster's network namespace (:mod:`.network`), and Prometheus
there too (:mod:`.monitoring`). What was
started is recorded in ``state.json`` in the cluster's run directory; ``down``
stops exactly those pids (after checking each still runs the binary we started),
deletes the namespace and removes the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from e2e import netns as netns_
from e2e.localcluster import build, controlplane, kubeconfig, monitoring, network, pki
from e2e.locking import named_lock

NODE_NAME = "kwok-node-0"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
"""Addresses the cluster assigns. They are real only inside the cluster's network
namespace (local routes there, see :mod:`e2e.netns`); nothing outside it ever
sends traffic to them."""


class ClusterError(RuntimeError):
    """The cluster could not be started or is not healthy; the message names the log to read."""


@dataclass(kw_only=True)
class State:
    """What ``up`` started; persisted as ``state.json``."""

    name: str
    run_dir: str
    kubeconfig: str
    server: str
    ports: dict[str, int]
    pids: dict[str, int] = field(default_factory=dict)
    binaries: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0

    def save(self) -> None:
        path = Path(self.run_dir) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, run_dir: Path) -> State | None:
        path = run_dir / "state.json"
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None


def clusters_root() -> Path:
    return build.cache_root() / "clusters"


def run_dir_for(name: str) -> Path:
    return clusters_root() / name


def _log(message: str) -> None:
    build._log(message)  # noqa: SLF001 - one progress channel for the harness


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_alive(pid: int, binary: str | None = None) -> bool:
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own exited children
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError):
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return binary is None or cmdline == binary


def https_get(state: State, path: str, *, timeout: float = 2.0) -> tuple[int, str]:
    certs = Path(state.run_dir) / "pki"
    ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    ctx.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
    try:
        with urllib.request.urlopen(  # noqa: S310 - https to our own loopback apiserver
            state.server + path, context=ctx, timeout=timeout
        ) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode(errors="replace")


def healthy(state: State) -> bool:
    """Every recorded process runs and the apiserver answers ``/readyz``."""
    wanted = {*controlplane.PROCESSES, *network.PROCESSES, *monitoring.PROCESSES}
    if not wanted <= set(state.pids):
        return False
    if not all(process_alive(pid, state.binaries.get(name)) for name, pid in state.pids.items()):
        return False
    try:
        status, _ = https_get(state, "/readyz")
    except (OSError, ssl.SSLError):
        return False
    return status == 200 and network.healthy(state) and monitoring.healthy(state)


def wait_until(what: str, check: object, *, timeout: float, log: Path | None) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ssl.SSLError, subprocess.SubprocessError) as err:
            last_error = str(err)
        time.sleep(0.1)
    hint = f"; see {log}" if log else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{hint} {last_error}")


def start_process(
    state: State,
    name: str,
    binary: Path,
    args: list[str],
    *,
    netns: str | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Spawn ``binary`` in its own session, output to ``logs/<name>.log``; inside
    network namespace ``netns`` if given (``ip netns exec`` execs the binary itself,
    so the recorded pid runs it).

    ``posix_spawn`` rather than ``Popen``: the process must outlive this one, and
    a ``Popen`` object dropped while its child runs raises a ResourceWarning.
    """
    logs = Path(state.run_dir) / "logs"
    logs.mkdir(exist_ok=True)
    log = str(logs / f"{name}.log")
    argv = [str(binary), *args]
    if netns is not None:
        argv = netns_.argv_in(netns, argv)
    executable = shutil.which(argv[0]) or argv[0]
    pid = os.posix_spawn(
        executable,
        argv,
        {**os.environ, **(env or {})},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    state.pids[name] = pid
    state.binaries[name] = str(binary)
    state.save()
    if netns is not None:
        network.wait_until_inside(pid, binary)


def check_running(state: State, name: str) -> None:
    if not process_alive(state.pids[name]):
        log = Path(state.run_dir) / "logs" / f"{name}.log"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ClusterError(f"{name} exited during start-up; last lines of {log}:\n{tail}")


def up(name: str = "default") -> State:
    """Start the cluster (or return the running one) and wait until a node is Ready."""
    with named_lock(clusters_root(), name):
        run_dir = run_dir_for(name)
        existing = State.load(run_dir)
        if existing is not None:
            if healthy(existing):
                _log(f"Cluster {name!r} is already running at {existing.server}")
                return existing
            _log(f"Cluster {name!r} is unhealthy or half-started; restarting it")
            _stop(existing)
        shutil.rmtree(run_dir, ignore_errors=True)
        binaries = build.ensure_binaries()
        monitoring.ensure_binary()
        started = time.monotonic()
        run_dir.mkdir(parents=True)
        pki_dir = run_dir / "pki"
        pki.generate(pki_dir)
        ports = {
            key: free_port()
            for key in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
        }
        server = f"https://127.0.0.1:{ports['apiserver']}"
        configs = kubeconfig.write_all(run_dir=run_dir, server=server, pki_dir=pki_dir)
        state = State(
            name=name,
            run_dir=str(run_dir),
            kubeconfig=str(configs["admin"]),
            server=server,
            ports=ports,
            binaries={"kubectl": str(binaries.kubectl)},
            started_at=time.time(),
        )
        state.save()
        try:
            network.prepare(state, local_cidrs=(POD_CIDR, SERVICE_CIDR))
            controlplane.start(state, binaries, configs)
            network.start_data_plane(
                state,
                binaries,
                kubeconfig=configs[pki.KUBE_PROXY.file_stem],
                cluster_cidr=POD_CIDR,
                node_name=NODE_NAME,
            )
            monitoring.start(state)
        except BaseException:
            _stop(state)
            raise
        _log(f"Cluster {name!r} is up at {server} in {time.monotonic() - started:.1f}s")
        return state


def _stop(state: State) -> None:
    """Stop the recorded processes, last started first; delete the namespace."""
    started = list(reversed(state.pids.items()))
    for name, pid in started:
        if process_alive(pid, state.binaries.get(name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for name, pid in started:
        while process_alive(pid, state.binaries.get(name)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid, state.binaries.get(name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            # SIGKILL is asynchronous: return only once the process is gone, so a
            # caller (or the next `up`) never meets it still holding its ports.
            gone_by = time.monotonic() + 10
            while process_alive(pid, state.binaries.get(name)) and time.monotonic() < gone_by:
                time.sleep(0.05)
            if process_alive(pid, state.binaries.get(name)):
                raise ClusterError(f"{name} (pid {pid}) survived SIGKILL for 10 s")
    network.remove_leftovers(state.name)
    shutil.rmtree(state.run_dir, ignore_errors=True)


def down(name: str = "default") -> bool:
    """Stop every process ``up`` started and remove the run directory. False if none ran."""
    with named_lock(clusters_root(), name):
        state = State.load(run_dir_for(name))
        if state is None:
            network.remove_leftovers(name)
            shutil.rmtree(run_dir_for(name), ignore_errors=True)
            return False
        _stop(state)
        return True


def status(name: str = "default") -> tuple[State | None, bool]:
    """The recorded state (if any) and whether it is healthy."""
    state = State.load(run_dir_for(name))
    return state, state is not None and healthy(state)
