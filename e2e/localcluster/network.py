"""The local cluster's network: its namespace, kube-proxy inside it, and the relays.

``up`` creates the namespace :func:`e2e.netns.name_for` names before the control
plane starts (a leftover one from a crashed run, and whatever still runs in it,
is removed first). Two relay pairs cross its boundary, each through a Unix socket
in ``<run dir>/sock``:

- **into** the namespace, the API server: inside, ``127.0.0.1:<apiserver port>``
  reaches the host's API server, so the kubeconfigs written for the host work
  unchanged in the namespace;
- **out of** it, kube-proxy's ``/healthz``: a host loopback port (``ports
  ["kube-proxy-healthz"]``) reaches ``127.0.0.1:10256`` inside, which is how
  ``up`` and ``status`` tell that kube-proxy is healthy.

kube-proxy (iptables mode) runs inside the namespace as the node ``kwok-node-0``,
so the Services and EndpointSlices of the cluster become DNAT rules there: a
process in the namespace that connects to a ClusterIP reaches a process listening
on one of the Service's pod IPs. It leaves the host's sysctls alone
(``conntrack.maxPerCore: 0`` and zero conntrack timeouts mean "as is").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from e2e import netns
from e2e.localcluster import cluster
from e2e.netns import relay

if TYPE_CHECKING:
    from e2e.localcluster.build import Binaries
    from e2e.localcluster.cluster import State

KUBE_PROXY_HEALTHZ = 10256
KUBE_PROXY_METRICS = 10249
"""kube-proxy's ports on loopback inside the namespace (its upstream defaults)."""

NODE_ADDRESS = "198.18.0.1"
"""The namespace's own address (global scope, on loopback; RFC 2544's benchmarking
range, outside both cluster CIDRs). kube-proxy masquerades connections that come
from outside the pod CIDR to it: MASQUERADE takes a global-scope address of the
outgoing interface, and loopback's 127.0.0.1 is host-scope, so without it a process
in the namespace that dials a ClusterIP unbound (source = the ClusterIP) is dropped."""

MIN_SYNC_PERIOD = "100ms"
"""Least time between two rewrites of kube-proxy's rules (upstream default 1s, which
delays the second of two quick endpoint changes by up to a second; a test cluster
has few changes and wants each in place fast). "0s" would mean "default" (1s)."""

API_RELAY = ("relay-apiserver-host", "relay-apiserver-netns")
HEALTHZ_RELAY = ("relay-kube-proxy-healthz-netns", "relay-kube-proxy-healthz-host")
POD_AGENT = "pod-agent"
PROCESSES = (*API_RELAY, *HEALTHZ_RELAY, "kube-proxy", POD_AGENT)
"""What :func:`start` adds to a cluster's recorded processes, in start order."""

_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


def namespace_of(state: State) -> str:
    return netns.name_for(state.name)


def inode(state: State) -> int:
    """The network namespace inode of the cluster (compare with :func:`netns.inode_of`)."""
    return os.stat(netns.NETNS_DIR / namespace_of(state)).st_ino


def _socket(state: State, label: str) -> Path:
    path = Path(state.run_dir) / "sock" / f"{label}.sock"
    if len(os.fsencode(path)) > _SOCKET_PATH_MAX:
        raise netns.NetnsError(f"Unix socket path too long for the kernel: {path}")
    path.parent.mkdir(exist_ok=True)
    return path


def wait_until_inside(pid: int, binary: Path, *, timeout: float = 10) -> None:
    """Return once ``pid``, spawned as ``ip netns exec … binary``, runs ``binary``:
    ``ip`` enters the namespace before it execs, so from then on the pid is inside.
    Returns early if the process exited (the caller's health check reports that)."""
    deadline = time.monotonic() + timeout
    while not cluster.process_alive(pid, str(binary)) and time.monotonic() < deadline:
        if not cluster.process_alive(pid):
            return
        time.sleep(0.005)


def remove_leftovers(cluster_name: str) -> None:
    """Stop every process still in the cluster's namespace and delete it (crashed run);
    remove the pod agent's sockets and logs."""
    name = netns.name_for(cluster_name)
    shutil.rmtree(_pod_agent_dir(name), ignore_errors=True)
    if not netns.exists(name):
        return
    strays = netns.pids_in(name)
    for pid in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while strays and time.monotonic() < deadline:
        strays = [pid for pid in strays if Path(f"/proc/{pid}").exists()]
        time.sleep(0.05)
    netns.delete(name)


def _start_relay(state: State, name: str, *, listen: str, connect: str, inside: bool) -> None:
    cluster.start_process(
        state,
        name,
        Path(sys.executable),
        [
            relay.__file__,
            f"--listen={listen}",
            f"--connect={connect}",
            f"--ready-file={_ready_file(state, name)}",
        ],
        netns=namespace_of(state) if inside else None,
    )


def _ready_file(state: State, name: str) -> Path:
    return Path(state.run_dir) / "sock" / f"{name}.ready"


def wait_for_relays(state: State, names: Sequence[str], *, timeout: float = 20) -> None:
    """Return once every relay in ``names`` listens."""

    def all_ready() -> bool:
        for name in names:
            cluster.check_running(state, name)
        return all(_ready_file(state, name).exists() for name in names)

    cluster.wait_until("the namespace relays", all_ready, timeout=timeout, log=None)


def start_relay_into(state: State, names: tuple[str, str], *, port: int) -> None:
    """Host ``127.0.0.1:port`` becomes ``127.0.0.1:port`` inside the namespace, once
    :func:`wait_for_relays` returns. ``names``: the host relay's, the inner relay's."""
    host_name, inside_name = names
    sock = _socket(state, host_name)
    _start_relay(
        state, host_name, listen=f"unix:{sock}", connect=f"tcp:127.0.0.1:{port}", inside=False
    )
    _start_relay(
        state, inside_name, listen=f"tcp:127.0.0.1:{port}", connect=f"unix:{sock}", inside=True
    )


def start_relay_out(state: State, names: tuple[str, str], *, port: int) -> int:
    """``127.0.0.1:port`` inside the namespace becomes a host loopback port (returned),
    once :func:`wait_for_relays` returns. ``names``: the inner relay's, the host relay's."""
    inside_name, host_name = names
    sock = _socket(state, inside_name)
    host_port = cluster.free_port()
    _start_relay(
        state, inside_name, listen=f"unix:{sock}", connect=f"tcp:127.0.0.1:{port}", inside=True
    )
    _start_relay(
        state,
        host_name,
        listen=f"tcp:127.0.0.1:{host_port}",
        connect=f"unix:{sock}",
        inside=False,
    )
    return host_port


def relay_out(state: State, names: tuple[str, str], *, port: int) -> int:
    """:func:`start_relay_out` and wait for it (e.g. a server started in the namespace later)."""
    host_port = start_relay_out(state, names, port=port)
    wait_for_relays(state, names)
    return host_port


def prepare(state: State, *, local_cidrs: Sequence[str]) -> None:
    """Create the namespace (removing a leftover one) and start the relays, which come
    up while the control plane does; :func:`start_kube_proxy` waits for them."""
    remove_leftovers(state.name)
    netns.create(namespace_of(state), local_cidrs=local_cidrs, addresses=[f"{NODE_ADDRESS}/32"])
    start_relay_into(state, API_RELAY, port=state.ports["apiserver"])
    state.ports["kube-proxy-healthz"] = start_relay_out(
        state, HEALTHZ_RELAY, port=KUBE_PROXY_HEALTHZ
    )
    state.save()


def kube_proxy_config(*, kubeconfig: Path, cluster_cidr: str, node_name: str) -> str:
    """A KubeProxyConfiguration (JSON is YAML) for iptables mode inside the namespace."""
    return json.dumps(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 50, "burst": 100},
            "mode": "iptables",
            "clusterCIDR": cluster_cidr,
            "hostnameOverride": node_name,
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ}",
            "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS}",
            "nodePortAddresses": ["primary"],  # the node IP, 127.0.0.1 (kwok --node-ip)
            # Leave the host's conntrack table size and timeouts as they are.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
                "udpTimeout": "0s",
                "udpStreamTimeout": "0s",
            },
            "iptables": {
                "minSyncPeriod": MIN_SYNC_PERIOD,
                "syncPeriod": "30s",
            },
        },
        indent=2,
    )


def kube_proxy_healthy(state: State, *, timeout: float = 2.0) -> bool:
    """kube-proxy answers 200 on ``/healthz`` (through the relay out of the namespace)."""
    port = state.ports.get("kube-proxy-healthz")
    if port is None:
        return False
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def start_kube_proxy(
    state: State,
    binaries: Binaries,
    *,
    kubeconfig: Path,
    cluster_cidr: str,
    node_name: str,
) -> None:
    """Start kube-proxy in the namespace once the relays listen; wait for its /healthz."""
    wait_for_relays(state, (*API_RELAY, *HEALTHZ_RELAY))
    config = Path(state.run_dir) / "kube-proxy.yaml"
    config.write_text(
        kube_proxy_config(kubeconfig=kubeconfig, cluster_cidr=cluster_cidr, node_name=node_name)
    )
    cluster.start_process(
        state,
        "kube-proxy",
        binaries.kube_proxy,
        [f"--config={config}", "--v=1"],
        netns=namespace_of(state),
    )

    def proxy_ok() -> bool:
        cluster.check_running(state, "kube-proxy")
        return kube_proxy_healthy(state)

    log = Path(state.run_dir) / "logs" / "kube-proxy.log"
    cluster.wait_until("kube-proxy /healthz", proxy_ok, timeout=60, log=log)


def start_data_plane(
    state: State,
    binaries: Binaries,
    *,
    kubeconfig: Path,
    cluster_cidr: str,
    node_name: str,
) -> None:
    """kube-proxy, then the pod agent: a demo app on the IP of each demo-app pod."""
    start_kube_proxy(
        state, binaries, kubeconfig=kubeconfig, cluster_cidr=cluster_cidr, node_name=node_name
    )
    start_pod_agent(state)


def pod_agent_dir(state: State) -> Path:
    """The apps' admin sockets, logs and ``apps.json`` (short: socket paths ≤ 107 bytes)."""
    return _pod_agent_dir(namespace_of(state))


def _pod_agent_dir(namespace: str) -> Path:
    return Path(f"/tmp/lg-podagent-{namespace}")  # noqa: S108 - short, for socket paths


def start_pod_agent(state: State) -> None:
    """The pod agent (:mod:`e2e.podagent`) on the host, its apps inside the namespace."""
    root = Path(__file__).resolve().parents[2]
    cluster.start_process(
        state,
        POD_AGENT,
        Path(sys.executable),
        [
            "-m",
            "e2e.podagent",
            f"--netns={namespace_of(state)}",
            f"--kubeconfig={state.kubeconfig}",
            f"--run-dir={pod_agent_dir(state)}",
        ],
        env={"PYTHONPATH": str(root)},
    )
    log = Path(state.run_dir) / "logs" / f"{POD_AGENT}.log"

    def agent_ok() -> bool:
        cluster.check_running(state, POD_AGENT)
        return log.exists() and "pod agent running" in log.read_text(errors="replace")

    cluster.wait_until("the pod agent", agent_ok, timeout=60, log=log)


def healthy(state: State) -> bool:
    return netns.exists(namespace_of(state)) and kube_proxy_healthy(state)


def delete_namespace(state: State) -> None:
    netns.delete(namespace_of(state))


def exec_in(cluster_name: str, argv: Sequence[str]) -> int:
    """Run ``argv`` inside the cluster's namespace; its exit code."""
    name = netns.name_for(cluster_name)
    if not netns.exists(name):
        raise netns.NetnsError(f"cluster {cluster_name!r} has no network namespace ({name})")
    return subprocess.run(netns.argv_in(name, argv), check=False).returncode
