"""Real faults on the local control plane, for tests: restart a component, pause
one, run a second API server beside the first, compact etcd.

Each works on the processes ``up`` started (recorded in ``state.json``) and
restarts them with exactly the command line they run with, read from ``/proc``,
in the network namespace they ran in.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from e2e import netns
from e2e.localcluster import cluster, network


def state_of(kubeconfig: Path) -> cluster.State:
    """The local cluster whose admin kubeconfig is ``kubeconfig``."""
    state = cluster.State.load(kubeconfig.parent)
    if state is None:
        raise cluster.ClusterError(f"{kubeconfig} is not a local cluster's kubeconfig")
    return state


def _argv(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


def _stop_pid(pid: int, binary: str | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while cluster.process_alive(pid, binary) and time.monotonic() < deadline:
        time.sleep(0.05)
    if cluster.process_alive(pid, binary):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while cluster.process_alive(pid, binary):
            time.sleep(0.05)


def _healthy_component(state: cluster.State, name: str) -> bool:
    if name == "kube-apiserver":
        return cluster.https_get(state, "/readyz")[0] == 200
    if name == "etcd":
        url = f"http://127.0.0.1:{state.ports['etcd']}/health"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")
    return True


def restart(state: cluster.State, name: str, *, down_for: float = 0.0) -> float:
    """Stop ``name``, keep it down ``down_for`` seconds, start it again as it ran.

    Returns the seconds from the stop until it was healthy again.
    """
    pid = state.pids[name]
    argv = _argv(pid)
    namespace = network.namespace_of(state)
    inside = netns.exists(namespace) and netns.inode_of(pid) == network.inode(state)
    started = time.monotonic()
    _stop_pid(pid, state.binaries.get(name))
    time.sleep(down_for)
    cluster.start_process(state, name, Path(argv[0]), argv[1:], netns=namespace if inside else None)
    cluster.wait_until(
        f"{name} healthy again",
        lambda: _healthy_component(state, name),
        timeout=90,
        log=Path(state.run_dir) / "logs" / f"{name}.log",
    )
    return time.monotonic() - started


@contextlib.contextmanager
def paused(state: cluster.State, name: str) -> Iterator[None]:
    """``name`` frozen (SIGSTOP) for the ``with`` block: it holds its connections but
    answers nothing, as a component stuck on a full disk or a long pause would."""
    pid = state.pids[name]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass(frozen=True, kw_only=True)
class ExtraApiServer:
    """A second API server on the same etcd, with its own flags."""

    pid: int
    port: int
    kubeconfig: Path

    def stop(self) -> None:
        _stop_pid(self.pid, None)


def extra_apiserver(state: cluster.State, *, flags: list[str], tag: str) -> ExtraApiServer:
    """Start another kube-apiserver like the first, on a new port, plus ``flags``
    (e.g. ``--watch-cache=false``: watches then read etcd directly)."""
    argv = _argv(state.pids["kube-apiserver"])
    port = cluster.free_port()
    args = [a for a in argv[1:] if not a.startswith(("--secure-port=", "--audit-log-path="))]
    args += [f"--secure-port={port}", *flags]
    run_dir = Path(state.run_dir)
    pid = os.posix_spawn(
        argv[0],
        [argv[0], *args],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(run_dir / "logs" / f"apiserver-{tag}.log"),
             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )  # fmt: skip
    admin = (run_dir / "admin.kubeconfig").read_text()
    config = admin.replace(state.server, f"https://127.0.0.1:{port}")
    kubeconfig = run_dir / f"admin-{tag}.kubeconfig"
    kubeconfig.write_text(config)
    kubeconfig.chmod(0o600)
    server = ExtraApiServer(pid=pid, port=port, kubeconfig=kubeconfig)
    extra = cluster.State(**{**asdict(state), "server": f"https://127.0.0.1:{port}"})
    try:
        cluster.wait_until(
            f"apiserver {tag} ready",
            lambda: cluster.https_get(extra, "/readyz")[0] == 200,
            timeout=90,
            log=run_dir / "logs" / f"apiserver-{tag}.log",
        )
    except cluster.ClusterError:
        server.stop()
        raise
    return server


def _etcd(state: cluster.State, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{state.ports['etcd']}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer: dict[str, object] = json.loads(response.read())
    return answer


def etcd_revision(state: cluster.State) -> int:
    """etcd's current revision (the resourceVersion every object's is compared to)."""
    answer = _etcd(state, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
    header = answer["header"]
    assert isinstance(header, dict)
    return int(header["revision"])


def compact_etcd(state: cluster.State) -> int:
    """Compact etcd up to its current revision: older resourceVersions are gone (410).
    Returns that revision."""
    revision = etcd_revision(state)
    _etcd(state, "/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


__all__ = [
    "ExtraApiServer",
    "compact_etcd",
    "etcd_revision",
    "extra_apiserver",
    "paused",
    "restart",
    "state_of",
]
