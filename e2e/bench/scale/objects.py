"""The scale benchmark's objects: minimal Deployments and two-step Rollouts, made and
removed many at a time through the admin's client.

Each run has its own namespace (``landinggear-scale-<random>``); what an earlier
run left is removed first (its Rollouts' hand-back finalizers dropped, since no
controller is left to hand back), so the controller's cluster-wide caches hold
this run's objects only.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1

__all__ = [
    "GROUP_LABEL",
    "PREFIX",
    "admin_client",
    "behind",
    "deployment",
    "group_of",
    "in_parallel",
    "list_rollouts",
    "names",
    "pods_behind",
    "remove_old_runs",
    "rollout",
]

PREFIX = "landinggear-scale"
THREADS = 16


def admin_client(kubeconfig: str) -> ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = THREADS * 2
    return ApiClient(configuration)


def names(n: int) -> list[str]:
    """``s-00000`` …: all of one length, so no name is another's prefix."""
    width = max(5, len(str(n - 1)))
    return [f"s-{i:0{width}d}" for i in range(n)]


def deployment(name: str, image: str = "app:v1", *, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def rollout(name: str, *, pause_s: int) -> dict[str, Any]:
    steps = [{"setWeight": 50}, {"pause": {"duration": f"{pause_s}s"}}]
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": name, "labels": {GROUP_LABEL: group_of(name)}},
        "spec": {"workloadRef": {"name": name}, "strategy": {"canary": {"steps": steps}}},
    }


def in_parallel(items: Iterable[str], call: Callable[[str], object]) -> None:
    """``call`` each item on :data:`THREADS` threads; the first error is raised."""
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(call, items):
            pass


GROUP_LABEL = "bench.landinggear.dev/group"
"""Rollout ``s-<i>`` is in group ``i // 100``: the wave's and the paced releases' are
listed by this label, not with every Rollout (a list of 10,000, polled every 0.25 s,
overloaded the API server)."""


def group_of(name: str) -> str:
    return str(int(name.split("-", 1)[1]) // 100)


LIST_PAGE = 250
"""Objects per page of the bench's own lists."""


def list_rollouts(
    api: ApiClient, namespace: str, *, groups: Iterable[str] = ()
) -> list[dict[str, Any]]:
    wanted = sorted(set(groups))
    selector = f"{GROUP_LABEL} in ({','.join(wanted)})" if wanted else ""
    items: list[dict[str, Any]] = []
    token = ""
    while True:  # in pages: 1,000 realistic Rollouts are 7.8 MB, read whole once broke off
        listed = cast(
            dict[str, Any],
            client.CustomObjectsApi(api).list_namespaced_custom_object(
                v1alpha1.GROUP,
                v1alpha1.VERSION,
                namespace,
                v1alpha1.PLURAL,
                label_selector=selector,
                limit=LIST_PAGE,
                _continue=token or None,
            ),
        )
        items += listed.get("items") or []
        token = (listed.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def behind(pods: Iterable[Mapping[str, Any]], expected: int | None = None) -> int:
    """Pods the cluster has still to bring up or take down: those terminating, those
    not yet Running and, given the ``expected`` count of the end state, the running
    ones above or below it (pods a scaled-down ReplicaSet has yet to delete run on)."""
    running = terminating = starting = 0
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            terminating += 1
        elif (pod.get("status") or {}).get("phase") == "Running":
            running += 1
        else:
            starting += 1
    return terminating + starting + (0 if expected is None else abs(running - expected))


def pods_behind(api: ApiClient, namespace: str, expected: int | None = None) -> int:
    """:func:`behind` for ``namespace``'s pods, read raw in pages (10,000s of them)."""
    core, token, pods = client.CoreV1Api(api), "", []
    while True:
        response: Any = core.list_namespaced_pod(  # raw: a urllib3 response
            namespace, limit=LIST_PAGE, _continue=token or None, _preload_content=False
        )
        page = json.loads(response.data)
        pods += [{"metadata": {"deletionTimestamp": p["metadata"].get("deletionTimestamp")},
                  "status": {"phase": (p.get("status") or {}).get("phase")}}
                 for p in page.get("items") or []]  # fmt: skip
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return behind(pods, expected)


def remove_old_runs(api: ApiClient, *, timeout: float = 600) -> None:
    """Delete every earlier run's namespace (its Rollouts' finalizers dropped first) and
    wait until they are gone."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)

    def ours() -> list[str]:
        return [
            str(ns.metadata.name)
            for ns in core.list_namespace().items
            if ns.metadata and str(ns.metadata.name).startswith(PREFIX + "-")
        ]

    for namespace in ours():

        def unfinalize(name: str, namespace: str = namespace) -> None:
            with contextlib.suppress(ApiException):
                custom.patch_namespaced_custom_object(
                    v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL, name,
                    {"metadata": {"finalizers": None}},
                )  # fmt: skip

        in_parallel([r["metadata"]["name"] for r in list_rollouts(api, namespace)], unfinalize)
        with contextlib.suppress(ApiException):
            core.delete_namespace(namespace)
    deadline = time.monotonic() + timeout
    while ours():
        if time.monotonic() > deadline:
            raise TimeoutError(f"earlier runs' namespaces not gone after {timeout:.0f}s")
        time.sleep(2)
