"""The local cluster's network namespace: kube-proxy turns Services into real routing.

Every connection to a pod IP or a ClusterIP here is made by a process *inside*
the cluster's namespace (started with ``ip netns exec``); the test process itself
only reads files, runs ``iptables-save`` there and talks to the API server.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e import netns
from e2e.localcluster import build, cluster, faults, network
from tests.support.kube import ClusterUnderTest
from tests.support.network import (
    assert_host_never_dialled_the_cluster_ranges as _assert_host_never_dialled_the_cluster_ranges,
)
from tests.support.network import host_sockets_watched as _host_sockets_watched
from tests.support.waiting import eventually

_SERVER = """
import http.server, sys
ip, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((ip, port), Answer)
print("listening", flush=True)
server.serve_forever()
"""

_CLIENT = """
import collections, http.client, json, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
for _ in range(n):
    conn = http.client.HTTPConnection(host, port, timeout=5)  # a new connection each time
    try:
        conn.request("GET", "/")
        seen[conn.getresponse().read().decode()] += 1
    except OSError as err:
        seen[type(err).__name__] += 1
    finally:
        conn.close()
print(json.dumps(seen))
"""


def _inside(state: cluster.State, argv: Sequence[str]) -> str:
    done = subprocess.run(
        netns.argv_in(network.namespace_of(state), argv),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _nat_rules(state: cluster.State) -> str:
    return _inside(state, ["iptables-save", "-t", "nat"])


def _get(state: cluster.State, ip: str, port: int, n: int) -> dict[str, int]:
    counts: dict[str, int] = json.loads(
        _inside(state, [sys.executable, "-c", _CLIENT, ip, str(port), str(n)])
    )
    return counts


def _create(kube: ClusterUnderTest, namespace: str, *manifests: dict[str, Any]) -> None:
    for manifest in manifests:
        kube.kubectl("create", f"--namespace={namespace}", "-f", "-", stdin=json.dumps(manifest))


@pytest.fixture
def servers(local: cluster.State) -> Iterator[dict[str, str]]:
    """Two HTTP servers inside the namespace, on two pod IPs, each answering its name."""
    base = 10 + uuid.uuid4().int % 200
    ips = {f"pod-{i}": f"10.244.255.{base + i}" for i in range(2)}
    procs = []
    for name, ip in ips.items():
        proc = subprocess.Popen(
            netns.argv_in(
                network.namespace_of(local), [sys.executable, "-c", _SERVER, ip, "8080", name]
            ),
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "listening"
    yield ips
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=10)


def _endpoint_slice(service: str, ips: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-manual",
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "landinggear-tests",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }


def test_a_cluster_ip_balances_over_pod_ips_and_follows_endpoint_changes(
    local: cluster.State, kube: ClusterUnderTest, namespace: str, servers: dict[str, str]
) -> None:
    discovery = client.DiscoveryV1Api(kube.api())
    _create(
        kube,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
        _endpoint_slice("echo", list(servers.values())),
    )
    cluster_ip = str(
        client.CoreV1Api(kube.api()).read_namespaced_service("echo", namespace).spec.cluster_ip
    )
    eventually(
        lambda: all(f"{ip}:8080" in _nat_rules(local) for ip in servers.values()),
        timeout=10,
        what="kube-proxy programmed both endpoints",
    )

    with _host_sockets_watched():
        counts = _get(local, cluster_ip, 80, 200)

    assert set(counts) == set(servers), counts
    # Binomial(200, 1/2): mean 100, sd 7.1; outside ±35 (5 sd) about once in 2 million runs.
    assert abs(counts["pod-0"] - 100) <= 35, counts

    changed = time.monotonic()
    discovery.patch_namespaced_endpoint_slice(
        "echo-manual", namespace, _endpoint_slice("echo", [servers["pod-1"]])
    )
    eventually(
        lambda: f"{servers['pod-0']}:8080" not in _nat_rules(local),
        timeout=5,
        interval=0.02,
        what="kube-proxy removed pod-0's rules",
    )
    latency = time.monotonic() - changed
    print(f"kube-proxy: endpoint removed → rules rewritten in {latency * 1000:.0f} ms")

    assert _get(local, cluster_ip, 80, 50) == {"pod-1": 50}
    _assert_host_never_dialled_the_cluster_ranges()


def test_a_service_over_kwok_pods_gets_their_ips_as_iptables_endpoints(
    local: cluster.State, kube: ClusterUnderTest, namespace: str
) -> None:
    labels = {"app": "pause"}
    core = client.CoreV1Api(kube.api())
    _create(
        kube,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "pause"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "pause"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )

    def ready_pod_ips() -> set[str] | None:
        pods = core.list_namespaced_pod(namespace, label_selector="app=pause").items
        ips = {p.status.pod_ip for p in pods if p.status.pod_ip}
        return ips if len(ips) == 2 else None

    pod_ips = eventually(ready_pod_ips, timeout=30, what="two kwok pods with IPs")
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(cluster.POD_CIDR) for ip in pod_ips)

    def sliced_ips() -> set[str] | None:
        slices = client.DiscoveryV1Api(kube.api()).list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=pause"
        )
        ips = {
            address
            for s in slices.items
            for e in s.endpoints or []
            if e.conditions.ready
            for address in e.addresses
        }
        return ips if ips == pod_ips else None

    eventually(sliced_ips, timeout=30, what="the EndpointSlice lists both pod IPs")

    def programmed() -> bool:
        rules = _nat_rules(local)
        return f'"{namespace}/pause"' in rules and all(
            f"--to-destination {ip}:8080" in rules for ip in pod_ips
        )

    eventually(programmed, timeout=10, what="KUBE-SVC/KUBE-SEP rules for both pods")


def test_kube_proxy_and_the_inner_relays_run_inside_the_namespace(local: cluster.State) -> None:
    inside = set(netns.pids_in(network.namespace_of(local)))
    for name in ("kube-proxy", "relay-apiserver-netns", "relay-kube-proxy-healthz-netns"):
        assert local.pids[name] in inside, name
    for name in ("kube-apiserver", "relay-apiserver-host", "relay-kube-proxy-healthz-host"):
        assert local.pids[name] not in inside, name
    _assert_host_never_dialled_the_cluster_ranges()


def test_exec_runs_a_command_in_the_namespace_with_the_cluster_ranges_local(
    local: cluster.State,
) -> None:
    harness = [sys.executable, "-m", "e2e.localcluster", "--name", local.name, "exec", "--"]
    routes = subprocess.run(
        [*harness, "ip", "-4", "route", "show", "table", "local"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parents[2],
    ).stdout
    assert f"local {cluster.POD_CIDR} dev lo" in routes
    assert f"local {cluster.SERVICE_CIDR} dev lo" in routes

    failing = subprocess.run(
        [*harness, "sh", "-c", "exit 7"], timeout=60, check=False, cwd=Path(__file__).parents[2]
    )
    assert failing.returncode == 7


def test_kube_proxy_reads_our_settings_as_written(tmp_path: Path) -> None:
    """Zero durations mean "default" to kube-proxy; only the ones meaning "leave the
    host alone" may be zero, and the sync period must be the short one we chose."""
    binary = build.locate("kube-proxy")
    if binary is None:
        pytest.skip("kube-proxy is not built")
    written = tmp_path / "kube-proxy.yaml"
    written.write_text(
        network.kube_proxy_config(
            kubeconfig=tmp_path / "unused.kubeconfig",
            cluster_cidr=cluster.POD_CIDR,
            node_name=cluster.NODE_NAME,
        )
    )
    effective = tmp_path / "effective.yaml"
    subprocess.run(
        [str(binary), f"--config={written}", f"--write-config-to={effective}"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    config = yaml.safe_load(effective.read_text())

    assert config["mode"] == "iptables"
    assert config["iptables"]["minSyncPeriod"] == network.MIN_SYNC_PERIOD
    assert config["conntrack"]["maxPerCore"] == 0  # the host's nf_conntrack_max untouched
    assert config["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert config["conntrack"]["tcpCloseWaitTimeout"] == "0s"
    assert config["clusterCIDR"] == cluster.POD_CIDR
    assert config["hostnameOverride"] == cluster.NODE_NAME
    for key in ("healthzBindAddress", "metricsBindAddress"):
        assert config[key].startswith("127.0.0.1:"), key


def test_a_restarted_kube_proxy_comes_back_inside_the_namespace(local: cluster.State) -> None:
    state = cluster.State.load(Path(local.run_dir))
    assert state is not None
    old = state.pids["kube-proxy"]

    faults.restart(state, "kube-proxy")

    assert state.pids["kube-proxy"] != old
    assert state.pids["kube-proxy"] in netns.pids_in(network.namespace_of(state))
    eventually(lambda: network.kube_proxy_healthy(state), timeout=30, what="kube-proxy healthy")
    assert cluster.healthy(state)
