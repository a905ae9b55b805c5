"""The local cluster's network namespace, for tests: which cluster, and a watch that
no process of the host's namespace (this test process) dials the cluster's ranges."""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e import netns
from e2e.localcluster import cluster, network
from tests.support.kube import ClusterUnderTest

FORBIDDEN = (
    ipaddress.ip_network(cluster.POD_CIDR),
    ipaddress.ip_network(cluster.SERVICE_CIDR),
    ipaddress.ip_network(network.NODE_ADDRESS),
)


def local_cluster(kube: ClusterUnderTest) -> cluster.State:
    """The local cluster under test (the one whose run directory holds its kubeconfig);
    skips the test when the suite runs against another cluster (e.g. kind)."""
    run_dir = kube.kubeconfig.parent
    state = cluster.State.load(run_dir) if run_dir.parent == cluster.clusters_root() else None
    if state is None or not netns.exists(network.namespace_of(state)):
        pytest.skip("the suite runs against a cluster other than a local one with a network")
    return state


def host_remote_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Remote addresses of every TCP socket in the host's namespace (this process's)."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            remote_hex = line.split()[2].split(":")[0]
            raw = bytes.fromhex(remote_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(fixed)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            found.add(address)
    return found


def assert_host_never_dialled_the_cluster_ranges() -> None:
    for address in host_remote_addresses():
        assert not any(address in net for net in FORBIDDEN), address


@contextlib.contextmanager
def host_sockets_watched() -> Iterator[None]:
    """Sample the host's TCP sockets every 10 ms meanwhile; none may reach the ranges."""
    seen: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            seen.update(host_remote_addresses())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
    assert seen, "the sampler saw no socket at all (not even the API server's)"
    assert not [a for a in seen if any(a in net for net in FORBIDDEN)]
