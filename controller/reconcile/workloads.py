"""The Deployments Rollouts reference: the watched cache first, else one GET by name;
and what the caches of Deployments and ReplicaSets leave out.

The controller watches only the Deployments carrying
:data:`~controller.core.world.MANAGED_BY_LABEL`, which the adoption patch adds, not
every Deployment in the cluster. A Deployment not adopted yet (a new Rollout), or
whose label a user's ``kubectl apply`` dropped, is read by name; the reconcile then
labels it (again), and the watch carries it from there.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.kube.objects import KubeObject, strip_noise
from controller.kube.transport import request_json
from controller.reconcile.actuator import DEPLOYMENTS, TIMEOUT

__all__ = ["DeploymentLookup", "slim_deployment", "slim_replica_set"]


class _Cache(Protocol):
    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]: ...


def slim_deployment(obj: KubeObject) -> KubeObject:
    """Drop what no decision reads from a Deployment (besides :func:`strip_noise`'s):
    its status conditions, the largest part of its status. In place."""
    strip_noise(obj)
    status = obj.get("status")
    if isinstance(status, dict):
        status.pop("conditions", None)
    return obj


def slim_replica_set(obj: KubeObject) -> KubeObject:
    """Drop what no decision reads from one of our ReplicaSets: its pod template (a
    copy of the Deployment's, the largest part of it; the revision label names it)
    and its status conditions. In place."""
    strip_noise(obj)
    spec, status = obj.get("spec"), obj.get("status")
    if isinstance(spec, dict):
        spec.pop("template", None)
    if isinstance(status, dict):
        status.pop("conditions", None)
    return obj


class DeploymentLookup:
    """``get`` a Deployment from the labelled Deployments' cache, else from the API server."""

    def __init__(self, cache: _Cache, api: ApiClient) -> None:
        self.cache = cache
        self.api = api

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Deployment, or None if there is none; API errors but 404 propagate."""
        cached = self.cache.get(namespace, name)
        if cached is not None:
            return cached
        try:
            found = request_json(
                self.api, "GET", DEPLOYMENTS.object_path(namespace, name), timeout=TIMEOUT
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return slim_deployment(found)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        return self.cache.by_index(index, value)
