"""Replica-ratio traffic through the real network: a release's requests go load →
ClusterIP → kube-proxy → pod IPs → each pod's own demo app.

``localcluster up`` runs kube-proxy and the pod agent in the cluster's network
namespace; the load generator runs there too (the test process only reads counts
through Unix sockets, and is watched never to dial the cluster's ranges). The
canary's share of requests must match its share of Ready pods within the sample's
binomial error, and no request may find a Ready endpoint with nothing listening.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from e2e.dataplane.netload import NetLoadProcess
from e2e.localcluster import cluster, network
from tests.support.network import host_sockets_watched
from tests.support.scenario import Harness
from tests.support.waiting import eventually

REPLICAS = 5
RPS = 150
SAMPLE = 1200


def demo_app(image: str) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"landinggear.dev/demo-app": "true"},
                },
                "spec": {
                    "containers": [
                        {"name": "web", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        },
    }


def test_a_canary_s_share_of_requests_is_its_share_of_ready_pods(
    harness: Harness, local: cluster.State, short_dir: Path
) -> None:
    harness.apply(demo_app("web:v1"))
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
    )
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 20}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    core = client.CoreV1Api(harness.kube.api())
    cluster_ip = core.read_namespaced_service("web", harness.namespace).spec.cluster_ip
    url = f"http://{cluster_ip}/"
    load = NetLoadProcess(
        netns_name=network.namespace_of(local),
        control=short_dir / "load.sock",
        rps=RPS,
        targets=[url],
        log_file=harness.log_dir / "netload.log",
    )
    with host_sockets_watched(), load:
        eventually(lambda: load.counts()["answered"] > 50, timeout=30, what="v1 answering")
        harness.set_image("web:v2")
        status = harness.wait_status("canary at 20 %", phase="Paused", canaryWeight=20)
        canary = status["canaryRevision"]
        # 1 canary pod beside 5 stable ones: its share is 1/6, not the 20 % asked for.
        eventually(
            lambda: harness.replica_sets().get(canary) == (1, 1), timeout=30, what="canary pod"
        )
        time.sleep(1.0)  # kube-proxy's rules follow the EndpointSlice
        before = load.counts()
        eventually(
            lambda: load.counts()["answered"] - before["answered"] >= SAMPLE,
            timeout=SAMPLE / RPS * 3 + 30,
            what=f"{SAMPLE} more answers",
        )
        after = load.counts()
        harness.cli("abort", "web")
        harness.wait_status("aborted", phase="Degraded")
        eventually(
            lambda: harness.replica_sets().get(canary) == (0, 0), timeout=30, what="canary gone"
        )
        time.sleep(3.0)  # past the drain of the canary's app
        end = load.counts()

    def served(counts: dict[str, Any], revision: str) -> int:
        return sum((counts["by_revision"].get(revision) or {}).values())

    n = after["answered"] - before["answered"]
    k = served(after, canary) - served(before, canary)
    share, expected = k / n, 1 / (REPLICAS + 1)
    sigma = math.sqrt(expected * (1 - expected) / n)
    print(
        f"canary served {k} of {n} requests: {share:.4f} "
        f"(Ready-pod ratio {expected:.4f}, binomial sigma {sigma:.4f})"
    )
    assert abs(share - expected) <= 4 * sigma, (share, expected, sigma)
    # Through the release, the abort and the canary pod's removal: nothing refused.
    assert end["refused"] == 0, end["recent_errors"]
    assert end["timeouts"] == 0, end["recent_errors"]
    assert end["other_errors"] == 0, end["recent_errors"]
