"""The cluster's own Prometheus: inside the network namespace, pods found by kubernetes_sd.

``localcluster up`` starts upstream Prometheus in the namespace (``e2e.localcluster.
monitoring``); it scrapes each annotated pod's demo app at the pod's IP, and its
API reaches the host through a relay. The load generator runs in the namespace
too. The test process never dials a pod IP or a ClusterIP: it reads Prometheus
through the relay's loopback port and the load's counts through a Unix socket.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from e2e import netns
from e2e.dataplane.netload import NetLoadProcess
from e2e.localcluster import cluster, monitoring, network
from e2e.prometheus import api
from tests.support.kube import ClusterUnderTest
from tests.support.network import host_sockets_watched
from tests.support.waiting import eventually

RPS = 40


def scraped_app(namespace: str, replicas: int) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "landinggear.dev/demo-app": "true",
                        "prometheus.io/scrape": "true",
                    },
                },
                "spec": {
                    "containers": [
                        {"name": "web", "image": "web:v1", "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    return [deployment, service]


def served_in_prometheus(url: str, namespace: str) -> int:
    """Requests the namespace's apps reported, summed over the pods Prometheus scraped."""
    found = api.query(url, f'sum(http_requests_total{{namespace="{namespace}"}})')
    return int(float(found[0].value)) if found else 0


def test_prometheus_and_the_load_generator_run_inside_the_namespace(
    local: cluster.State, short_dir: Path
) -> None:
    inside = set(netns.pids_in(network.namespace_of(local)))
    assert local.pids[monitoring.PROMETHEUS] in inside
    assert local.pids[monitoring.RELAY[0]] in inside
    assert local.pids[monitoring.RELAY[1]] not in inside  # the host end of the relay
    load = NetLoadProcess(
        netns_name=network.namespace_of(local), control=short_dir / "load.sock", rps=1
    )
    with load:
        assert load.pid is not None
        assert netns.inode_of(load.pid) == network.inode(local)
    # The host reaches Prometheus at a loopback port only.
    assert monitoring.url(local).startswith("http://127.0.0.1:")
    assert api.is_ready(monitoring.url(local))


def test_a_new_pods_requests_reach_prometheus_through_kubernetes_sd(
    kube: ClusterUnderTest, local: cluster.State, namespace: str, short_dir: Path
) -> None:
    """Pods → scrape targets by watch (no file re-read), each pod's counts exactly what
    it served, and the sum never above what the load generator was answered."""
    url = monitoring.url(local)
    core = client.CoreV1Api(kube.api())
    with host_sockets_watched():
        started = time.monotonic()
        for obj in scraped_app(namespace, replicas=2):
            kube.kubectl("apply", "-f", "-", stdin=_json(obj))
        stages: dict[str, float] = {}

        def both_up() -> list[api.ActiveTarget] | None:
            _note_stages(core, url, namespace, stages, started)
            return _healthy_targets(url, namespace, 2)

        targets = eventually(both_up, timeout=30, what="both pods scraped and up", interval=0.05)
        to_targets = time.monotonic() - started
        pod_ips = {p.status.pod_ip for p in core.list_namespaced_pod(namespace).items}
        assert {t.address.rsplit(":", 1)[0] for t in targets} == pod_ips

        cluster_ip = core.read_namespaced_service("web", namespace).spec.cluster_ip
        load = NetLoadProcess(
            netns_name=network.namespace_of(local),
            control=short_dir / "load.sock",
            rps=RPS,
            targets=[f"http://{cluster_ip}/"],
        )
        with load:
            sent_at = time.monotonic()
            eventually(
                lambda: served_in_prometheus(url, namespace) > 0,
                timeout=30,
                what="the first requests counted in Prometheus",
            )
            to_first_counts = time.monotonic() - sent_at
            samples = []
            for _ in range(10):
                before = load.counts()["answered"]
                scraped = served_in_prometheus(url, namespace)
                time.sleep(0.1)  # requests the apps had counted are answered by now
                after = load.counts()["answered"]
                samples.append((before, scraped, after))
                time.sleep(0.2)
            load.set_targets([])  # no more requests
            time.sleep(0.5)  # the last ones in flight are answered
            answered = load.counts()["answered"]
            eventually(
                lambda: served_in_prometheus(url, namespace) == answered,
                timeout=10,
                what=f"Prometheus' count to catch up with the {answered} answered requests",
            )
    # Prometheus never holds more than the apps served: counts are exact, not extrapolated.
    for before, scraped, after in samples:
        assert scraped <= after, (before, scraped, after)
    timeline = ", ".join(f"{what} {at:.2f}s" for what, at in stages.items())
    print(
        f"\napply → {timeline}; both pods scraped: {to_targets:.2f}s; "
        f"first requests → counted in Prometheus: {to_first_counts:.2f}s "
        f"(scrape interval {monitoring.SCRAPE_INTERVAL}); {answered} requests, all counted"
    )


def _note_stages(
    core: client.CoreV1Api, url: str, namespace: str, stages: dict[str, float], started: float
) -> None:
    """Record when the first pod was Ready, discovered as a target, and scraped up."""
    now = time.monotonic() - started
    ready = [
        p
        for p in core.list_namespaced_pod(namespace).items
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    if ready:
        stages.setdefault("first pod Ready", now)
    found = [t for t in api.active_targets(url) if t.labels.get("namespace") == namespace]
    if found:
        stages.setdefault("first target discovered", now)
    if any(t.health == "up" for t in found):
        stages.setdefault("first target scraped", now)


def _healthy_targets(url: str, namespace: str, count: int) -> list[api.ActiveTarget] | None:
    found = [
        t
        for t in api.active_targets(url)
        if t.labels.get("namespace") == namespace and t.health == "up"
    ]
    return found if len(found) == count else None


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
