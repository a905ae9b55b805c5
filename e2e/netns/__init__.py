"""The cluster's own network namespace: where pod IPs and ClusterIPs are real.

``python -m e2e.localcluster up`` creates one Linux network namespace per local
cluster (``lg-<cluster>``). Inside it the pod CIDR and the Service CIDR are
*local* routes on the namespace's loopback (Linux "AnyIP": a process may bind to
any address of a ``local`` route), so every pod IP and ClusterIP is an address of
that namespace and no packet addressed to one can leave it: the namespace has no
other interface. kube-proxy, the pods' demo apps, Prometheus and the traffic
generator run there; the host reaches them only through Unix-socket relays
(:mod:`e2e.netns.relay`) that end on loopback on both sides.

Safety rule: no process outside the namespace ever connects to a pod IP, a
ClusterIP or any other non-loopback address. Everything here is loopback or
Unix sockets.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "NETNS_DIR",
    "NetnsError",
    "argv_in",
    "create",
    "delete",
    "exists",
    "inode_of",
    "name_for",
    "pids_in",
]

NETNS_DIR = Path("/run/netns")
"""Where ``ip netns`` pins named namespaces."""

PREFIX = "lg-"


class NetnsError(RuntimeError):
    """A namespace could not be created or used; the message says which command failed."""


def name_for(cluster: str) -> str:
    """The namespace of local cluster ``cluster`` (``ip netns`` names are ≤ 255 bytes)."""
    return f"{PREFIX}{cluster}"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {done.stderr.strip() or done.stdout}")


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create(name: str, *, local_cidrs: Sequence[str], addresses: Sequence[str] = ()) -> None:
    """Create (or re-create) namespace ``name`` with loopback up and ``local_cidrs`` local;
    ``addresses`` (``A.B.C.D/N``) are added to loopback with global scope.

    Requires root (CAP_SYS_ADMIN and CAP_NET_ADMIN), as ``ip netns add`` does.
    """
    if exists(name):
        delete(name)
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        for cidr in local_cidrs:
            _ip("-n", name, "route", "add", "local", cidr, "dev", "lo")
        for address in addresses:
            _ip("-n", name, "addr", "add", address, "dev", "lo")
    except NetnsError:
        delete(name)
        raise


def delete(name: str) -> None:
    """Remove namespace ``name`` if it exists. Processes still inside keep it alive
    until they exit; callers stop them first."""
    if exists(name):
        _ip("netns", "delete", name)


def argv_in(name: str, argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed so that it runs inside namespace ``name``."""
    return ["ip", "netns", "exec", name, *argv]


def inode_of(pid: int | str) -> int:
    """The network namespace inode of process ``pid`` (``"self"`` for this one)."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def pids_in(name: str) -> list[int]:
    """Processes whose network namespace is ``name``."""
    target = os.stat(NETNS_DIR / name).st_ino
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if inode_of(entry.name) == target:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found
