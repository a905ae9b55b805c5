"""The stable and canary Services a router sends traffic to.

The controller owns one key of each Service's selector — the revision label
(``landinggear.dev/pod-template-hash``), which our ReplicaSets put on their pods
— and nothing else: the stable Service selects the stable's pods, the canary
Service the canary's (the stable's when there is no canary). A Service that does
not exist is created from the Deployment's selector and the pod template's
container ports, owned by the Rollout. When the Rollout is deleted the key is
taken out again, so the user's Services select the Deployment's own pods, which it
runs again; Services the controller created are deleted with the Rollout (their
owner reference).

:func:`selector_patch`, :func:`new_service` and :func:`released` are pure; the
:class:`Services` class sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from controller.core.revisions import REVISION_LABEL, Revision
from controller.kube.transport import Resource, request_json
from controller.traffic import RouteTarget

__all__ = ["SERVICES", "Services", "new_service", "released", "selector_patch"]

SERVICES = Resource(group="", version="v1", plural="services")
MANAGED_BY = "app.kubernetes.io/managed-by"
MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)
FIELD_MANAGER = "landinggear"


def selector_patch(observed: Mapping[str, Any], revision: Revision) -> dict[str, Any] | None:
    """The merge patch pointing ``observed`` at ``revision``; None when it already does."""
    selector = (observed.get("spec") or {}).get("selector") or {}
    if selector.get(REVISION_LABEL) == revision:
        return None
    return {"spec": {"selector": {REVISION_LABEL: revision}}}


def new_service(target: RouteTarget, name: str, revision: Revision) -> dict[str, Any]:
    """A Service ``name`` for ``target``'s pods at ``revision``, owned by the Rollout."""
    ports = []
    containers = ((target.template or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        for port in container.get("ports") or []:
            number = port.get("containerPort")
            if not number:
                continue
            entry: dict[str, Any] = {
                "port": number,
                "targetPort": port.get("name") or number,
                "protocol": port.get("protocol", "TCP"),
            }
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
    if not ports:
        raise ValueError(
            f"Service {target.namespace}/{name} does not exist and the pod template declares "
            "no containerPort to create it from: create the Service"
        )
    if len(ports) > 1:
        for index, entry in enumerate(ports):
            entry.setdefault("name", f"port-{index}")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": {MANAGED_BY: "landinggear"},
            "ownerReferences": [
                {
                    "apiVersion": v1alpha1.API_VERSION,
                    "kind": v1alpha1.KIND,
                    "name": target.rollout,
                    "uid": target.rollout_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"selector": {**target.selector, REVISION_LABEL: revision}, "ports": ports},
    }


def released(observed: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch handing ``observed`` back: our selector key out (None when it is
    not there). A Service the controller created goes with the Rollout (owner reference)."""
    selector = (observed.get("spec") or {}).get("selector") or {}
    if REVISION_LABEL not in selector:
        return None
    return {"spec": {"selector": {REVISION_LABEL: None}}}


class Services:
    """Points the stable and canary Services at their revisions (I/O)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = request_json(
                self.api, "GET", SERVICES.object_path(namespace, name), timeout=TIMEOUT
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    def _wanted(self, target: RouteTarget) -> list[tuple[str, Revision]]:
        """The Services the Rollout names (Istio by subsets may name none)."""
        wanted = [
            (target.stable_service, target.stable),
            (target.canary_service, target.routed_canary),
        ]
        return [(name, revision) for name, revision in wanted if name]

    def ensure(self, target: RouteTarget) -> Sequence[str]:
        """Both Services select their revision; what had to change, in words."""
        changes = []
        for name, revision in self._wanted(target):
            observed = self._get(target.namespace, name)
            if observed is None:
                body = new_service(target, name, revision)
                request_json(
                    self.api,
                    "POST",
                    SERVICES.collection_path(target.namespace),
                    body=body,
                    query=[("fieldManager", FIELD_MANAGER)],
                    timeout=TIMEOUT,
                )
                changes.append(f"Service {name} created for {revision}")
                continue
            patch = selector_patch(observed, revision)
            if patch is None:
                continue
            was = (observed.get("spec") or {}).get("selector", {}).get(REVISION_LABEL)
            request_json(
                self.api,
                "PATCH",
                SERVICES.object_path(target.namespace, name),
                body=patch,
                query=[("fieldManager", FIELD_MANAGER)],
                content_type=MERGE_PATCH,
                timeout=TIMEOUT,
            )
            changes.append(f"Service {name} selects {revision} (was {was or 'any revision'})")
        return changes

    def verify(self, target: RouteTarget) -> bool:
        """Both Services, read back, select their revision."""
        for name, revision in self._wanted(target):
            observed = self._get(target.namespace, name)
            if observed is None or selector_patch(observed, revision) is not None:
                return False
        return True

    def release(self, target: RouteTarget) -> None:
        """Hand both Services back (the Rollout is being deleted)."""
        for name, _ in self._wanted(target):
            observed = self._get(target.namespace, name)
            patch = released(observed) if observed else None
            if patch is None:
                continue
            request_json(
                self.api,
                "PATCH",
                SERVICES.object_path(target.namespace, name),
                body=patch,
                content_type=MERGE_PATCH,
                timeout=TIMEOUT,
            )
