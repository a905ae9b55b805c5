"""The cluster's floor under the wave: 100 ReplicaSets the bench creates at once, no
controller involved → each one's pod seen available.

The wave (100 releases → all at their first pause) is the controller's part (the
release seen, its canary ReplicaSet created, the pause step written once the pod
serves) plus the cluster's: the controller manager creating the pods, the scheduler
binding them, kwok making them Ready. This measures the cluster's part alone, on the
same cluster right after the wave, polled the way the wave is (every 0.25 s), so the
wave's figure can be read against what the machine allows. A watch of the floor's pods
splits it (p50 of each, from the creates): the pod created by the controller manager,
bound by the scheduler, Ready by kwok.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client import ApiClient

from e2e.bench.scale.figures import percentile
from e2e.bench.scale.objects import in_parallel

__all__ = ["FLOOR_LABEL", "PodTimeline", "floor"]

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


class PodTimeline:
    """When each floor pod was first seen, bound to the node and Ready: stamped as a
    watch delivers them (a thread of its own), relative to :attr:`started`."""

    MILESTONES = ("created", "bound", "ready")

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.started = time.monotonic()
        self.seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._watch = watch.Watch()  # type: ignore[no-untyped-call]
        self._listening = threading.Event()
        self._stopping = threading.Event()
        self.failed: Exception | None = None
        self._thread = threading.Thread(
            target=self._follow, args=(client.CoreV1Api(api), namespace), daemon=True
        )

    def __enter__(self) -> PodTimeline:
        self._thread.start()
        if not self._listening.wait(30):
            raise TimeoutError(f"the floor's pod watch did not start in 30 s ({self.failed})")
        return self

    def __exit__(self, *_: object) -> None:
        # Takes effect at the next event: the deletions that follow bring some.
        self._stopping.set()
        self._watch.stop()  # type: ignore[no-untyped-call]

    def _follow(self, core: client.CoreV1Api, namespace: str) -> None:
        try:
            self._stamp_events(core, namespace)
        except Exception as err:  # the connection may end once the floor is done
            if not self._stopping.is_set():
                self.failed = err

    def _stamp_events(self, core: client.CoreV1Api, namespace: str) -> None:
        existing = core.list_namespaced_pod(namespace, label_selector=FLOOR_LABEL)
        version = existing.metadata.resource_version if existing.metadata else None
        self._listening.set()
        stream = self._watch.stream(core.list_namespaced_pod, namespace,  # type: ignore[no-untyped-call]
                                    label_selector=FLOOR_LABEL, resource_version=version,
                                    timeout_seconds=600)  # fmt: skip
        for event in stream:
            pod = event["object"]
            at = time.monotonic() - self.started
            reached = ["created"]
            if pod.spec and pod.spec.node_name:
                reached.append("bound")
            conditions = (pod.status.conditions if pod.status else None) or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                reached.append("ready")
            with self._lock:
                stamps = self.seen.setdefault(str(pod.metadata.name), {})
                for milestone in reached:
                    stamps.setdefault(milestone, at)

    def figures(self, prefix: str) -> dict[str, float | None]:
        """Each milestone's p50 over the pods that reached it, in seconds."""
        if self.failed is not None:
            raise RuntimeError(f"the floor's pod watch failed: {self.failed}") from self.failed
        with self._lock:
            stamps = [dict(s) for s in self.seen.values()]
        out: dict[str, float | None] = {}
        for milestone in self.MILESTONES:
            found = percentile([s[milestone] for s in stamps if milestone in s], 50)
            out[f"{prefix}_pod_{milestone}_p50_s"] = None if found is None else round(found, 2)
        return out


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

    def create(name: str) -> None:
        body: Any = replica_set(name)  # the client takes a dict as the body
        apps.create_namespaced_replica_set(namespace, body)

    with PodTimeline(api, namespace) as pods:
        started = pods.started = time.monotonic()
        in_parallel(names, create)
        created_s = time.monotonic() - started
        wait(f"{count} floor ReplicaSets available", all_available, timeout=300, every=POLL_S)
        took = [at - started for at in available_at.values()]
        timeline = pods.figures("floor100")
    in_parallel(names, lambda n: apps.delete_namespaced_replica_set(
        n, namespace, propagation_policy="Foreground"))  # fmt: skip

    def gone() -> bool:
        return not apps.list_namespaced_replica_set(namespace, label_selector=FLOOR_LABEL).items

    wait("the floor ReplicaSets gone", gone, timeout=300, every=1)
    return {
        "floor100_created_s": round(created_s, 2),
        "floor100_all_available_s": round(max(took), 2),
        "floor100_available_p50_s": round(percentile(took, 50) or 0.0, 2),
        **timeline,
    }
