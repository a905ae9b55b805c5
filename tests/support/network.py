"""The local cluster's network namespace, for tests: which cluster, its Prometheus,
traffic to a Service from inside the namespace, the Ready endpoints per revision,
and a watch that no process of the host's namespace (this test process) dials the
cluster's ranges."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from controller.core.revisions import REVISION_LABEL
from e2e import netns
from e2e.dataplane import FlagServer
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.demo.network import NetworkPlane
from e2e.localcluster import cluster, monitoring, network
from e2e.prometheus.api import Endpoint
from tests.support.kube import ClusterUnderTest
from tests.support.scenario import Harness

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


def cluster_prometheus(kube: ClusterUnderTest) -> Endpoint:
    """The local cluster's own Prometheus (in its namespace, scraping annotated pods)."""
    return Endpoint(monitoring.url(local_cluster(kube)))


@contextlib.contextmanager
def service_traffic(
    harness: Harness, *, service: str = "web", rps: float = 100
) -> Iterator[ServiceTraffic]:
    """``rps`` requests/s from inside the cluster's namespace to the Service's ClusterIP
    (sent from the moment the Service exists), counted per answering revision; the
    host's sockets are watched meanwhile (none may reach the cluster's ranges)."""
    state = local_cluster(harness.kube)
    # Unix socket paths are at most 107 bytes: a short folder of our own.
    short = Path(tempfile.mkdtemp(prefix="lg-st-", dir="/tmp"))
    api = harness.kube.api()
    load = ServiceTraffic(
        api=api,
        namespace=harness.namespace,
        service=service,
        netns_name=network.namespace_of(state),
        control=short / "load.sock",
        rps=rps,
        log_file=harness.log_dir / f"netload-{service}.log",
    )
    try:
        with host_sockets_watched(), load:
            yield load
    finally:
        api.close()  # type: ignore[no-untyped-call]
        shutil.rmtree(short, ignore_errors=True)


@contextlib.contextmanager
def flag_apps(
    harness: Harness, *, flags: FlagServer, service: str, rps: float
) -> Iterator[ServiceTraffic]:
    """The demo's pod agent (:data:`e2e.demo.network.AGENT`: it serves the pods of
    ``create_app(agent=AGENT)``) with ``flags`` for its apps, Unleash relayed into the
    namespace, and ``rps`` requests/s to ``service``; the host's sockets watched."""
    api = harness.kube.api()
    plane = NetworkPlane(
        state=local_cluster(harness.kube),
        api=api,
        namespace=harness.namespace,
        service=service,
        rps=rps,
        log_dir=harness.log_dir,
        flags=flags,
    )
    try:
        with host_sockets_watched():
            plane.start()
            try:
                yield plane.traffic
            finally:
                plane.stop()
    finally:
        api.close()  # type: ignore[no-untyped-call]


def revision_service(harness: Harness, *, name: str, revision: str, app: str = "web") -> None:
    """A Service ``name`` (port 80 → 8080) over only the pods of ``app``'s ``revision``."""
    selector = {"app": app, REVISION_LABEL: revision}
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )


def ready_endpoints_by_revision(
    api: client.ApiClient, namespace: str, service: str = "web"
) -> dict[str, int]:
    """The Service's Ready endpoints counted by their pod's revision label."""
    core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
    slices = discovery.list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}", _request_timeout=5
    ).items
    pods = core.list_namespaced_pod(namespace, _request_timeout=5).items
    revisions = {p.metadata.name: (p.metadata.labels or {}).get(REVISION_LABEL) for p in pods}
    found: dict[str, int] = {}
    for endpoint in (e for s in slices for e in s.endpoints or []):
        ready = endpoint.conditions is not None and endpoint.conditions.ready
        pod = endpoint.target_ref.name if endpoint.target_ref else None
        revision = revisions.get(pod) if ready and pod else None
        if revision:
            found[revision] = found.get(revision, 0) + 1
    return found


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
