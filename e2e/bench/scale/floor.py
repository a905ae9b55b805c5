"""The cluster's floor under the wave: 100 ReplicaSets the bench creates at once, no
controller involved → each one's pod seen available.

The wave (100 releases → all at their first pause) is the controller's part (the
release seen, its canary ReplicaSet created, the pause step written once the pod
serves) plus the cluster's: the controller manager creating the pods, the scheduler
binding them, kwok making them Ready. This measures the cluster's part alone, on the
same cluster right after the wave, polled the way the wave is (every 0.25 s), so the
wave's figure can be read against what the machine allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from e2e.bench.scale.figures import percentile
from e2e.bench.scale.objects import in_parallel

__all__ = ["FLOOR_LABEL", "floor"]

FLOOR_LABEL = "bench.landinggear.dev/floor"
"""On the floor's ReplicaSets and pods only: no Deployment's selector and no Rollout's
label matches them, so no controller but the ReplicaSet controller acts on them."""
POLL_S = 0.25


def replica_set(name: str) -> dict[str, Any]:
    labels = {FLOOR_LABEL: name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "app:floor"}]},
            },
        },
    }


def floor(
    api: ApiClient, namespace: str, *, count: int, wait: Callable[..., float]
) -> dict[str, Any]:
    """Create ``count`` one-pod ReplicaSets at once, time each to its pod seen available,
    then delete them (foreground: their pods gone before this returns)."""
    apps = client.AppsV1Api(api)
    names = [f"floor-{i:03d}" for i in range(count)]
    available_at: dict[str, float] = {}

    def all_available() -> bool:
        seen = time.monotonic()
        for rs in apps.list_namespaced_replica_set(namespace, label_selector=FLOOR_LABEL).items:
            if rs.metadata and rs.status and (rs.status.available_replicas or 0) >= 1:
                available_at.setdefault(str(rs.metadata.name), seen)
        return len(available_at) == count

    started = time.monotonic()

    def create(name: str) -> None:
        body: Any = replica_set(name)  # the client takes a dict as the body
        apps.create_namespaced_replica_set(namespace, body)

    in_parallel(names, create)
    created_s = time.monotonic() - started
    wait(f"{count} floor ReplicaSets available", all_available, timeout=300, every=POLL_S)
    took = [at - started for at in available_at.values()]
    in_parallel(names, lambda n: apps.delete_namespaced_replica_set(
        n, namespace, propagation_policy="Foreground"))  # fmt: skip

    def gone() -> bool:
        return not apps.list_namespaced_replica_set(namespace, label_selector=FLOOR_LABEL).items

    wait("the floor ReplicaSets gone", gone, timeout=300, every=1)
    return {
        "floor100_created_s": round(created_s, 2),
        "floor100_all_available_s": round(max(took), 2),
        "floor100_available_p50_s": round(percentile(took, 50) or 0.0, 2),
    }
