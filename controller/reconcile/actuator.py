"""Apply the core's actions to the API server, in order, as raw JSON requests.

Each action states an end state, so applying one that already holds is a no-op
on the server's side too (we skip the request when the cache shows it holds).
A 409 Conflict surfaces as :class:`Conflict` so the reconcile is requeued and
re-decided from fresh state, never retried blindly.

Flag actions come last in a decision (the core puts them after the workload's)
and never raise: each flag provider's answer, or its error, is returned as a
:class:`~controller.core.actions.FlagResult` for the core to fold into the status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from controller.api.routing import SetHeaderRoute, TrafficRouting
from controller.core.actions import (
    Action,
    DeleteReplicaSet,
    EnsureFinalizer,
    EnsureReplicaSet,
    FlagResult,
    RemoveFinalizer,
    RemoveManagedRoutes,
    RestoreFlag,
    SetCanaryWeight,
    SwitchFlagOff,
    UpdateDeployment,
)
from controller.core.decide import FINALIZER
from controller.core.revisions import Revision, replica_set_name
from controller.flags import FlagSwitches
from controller.kube.transport import Resource, request_json
from controller.reconcile import manifests
from controller.reconcile.observe import owned_by
from controller.traffic import RouteError, Router, RouteTarget

ROLLOUTS = Resource(group=v1alpha1.GROUP, version=v1alpha1.VERSION, plural=v1alpha1.PLURAL)
DEPLOYMENTS = Resource(group="apps", version="v1", plural="deployments")
REPLICA_SETS = Resource(group="apps", version="v1", plural="replicasets")
MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)


class Conflict(Exception):
    """The object changed under us (409); re-decide from fresh state."""


class ForeignObject(Exception):
    """An object we would manage exists but belongs to someone else."""


class TrafficNotVerified(Exception):
    """A router set a weight the data plane does not serve yet: the actions after it
    (scaling down what lost its traffic) and the status write wait for a later try."""


@dataclass(kw_only=True)
class Target:
    """The Rollout being reconciled, as last seen (updated by our own writes)."""

    obj: dict[str, Any]
    deployment: dict[str, Any] | None
    replica_sets: dict[str, dict[str, Any]]
    repairs: list[str] = field(default_factory=list)
    """Route changes that undid someone else's edit of routes recorded as reached."""

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"]["uid"])

    @property
    def route_spec(self) -> TrafficRouting | None:
        """``spec.strategy.canary.trafficRouting``, if set."""
        routing = _canary_spec(self.obj).get("trafficRouting")
        return TrafficRouting.model_validate(routing) if routing else None


def _canary_spec(obj: dict[str, Any]) -> dict[str, Any]:
    canary: dict[str, Any] = ((obj.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return canary


def route_target(
    target: Target,
    *,
    stable: Revision,
    canary: Revision | None,
    headers: tuple[SetHeaderRoute, ...],
) -> RouteTarget:
    """What a router needs to know about ``target``'s Rollout to route it."""
    canary_spec = _canary_spec(target.obj)
    deployment = (target.deployment or {}).get("spec") or {}
    return RouteTarget(
        namespace=target.namespace,
        rollout=target.name,
        rollout_uid=target.uid,
        stable=stable,
        canary=canary,
        routing=target.route_spec,
        stable_service=canary_spec.get("stableService") or "",
        canary_service=canary_spec.get("canaryService") or "",
        header_routes=headers,
        selector=dict((deployment.get("selector") or {}).get("matchLabels") or {}),
        template=deployment.get("template"),
    )


class Actuator:
    """Sends the requests that carry out actions (the client counts them for the metrics)."""

    def __init__(
        self, api: ApiClient, routers: Iterable[Router], flags: FlagSwitches | None = None
    ) -> None:
        self.api = api
        self.routers = {router.name: router for router in routers}
        self.flags = flags or FlagSwitches(())

    def router(self, name: str) -> Router:
        router = self.routers.get(name)
        if router is None:
            raise AssertionError(f"no router {name!r} is configured ({sorted(self.routers)})")
        return router

    def routing_problem(self, target: Target, stable: Revision | None) -> str | None:
        """What its router finds unusable about ``target``'s trafficRouting (None: fine,
        or no router). Checked before each decision; API errors other than a missing
        object propagate (the reconcile is retried)."""
        routing = target.route_spec
        if routing is None:
            return None
        router = self.routers.get(routing.kind.value)
        if router is None:
            return f"router {routing.kind.value} is not enabled in this controller"
        route = route_target(target, stable=stable or Revision(""), canary=None, headers=())
        try:
            router.check(route)
        except RouteError as err:
            return str(err)
        return None

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, patch: bool = False
    ) -> Any:
        try:
            return request_json(
                self.api,
                method,
                path,
                body=body,
                timeout=TIMEOUT,
                query=[("fieldManager", manifests.FIELD_MANAGER)] if method != "DELETE" else [],
                content_type=MERGE_PATCH if patch else None,
            )
        except ApiException as err:
            if err.status == 409:
                raise Conflict(f"{method} {path}: {err.reason}") from err
            raise

    def apply(self, target: Target, actions: tuple[Action, ...]) -> tuple[FlagResult, ...]:
        """Apply ``actions`` in order, stopping at the first that raises; the flag
        providers' answers, in order."""
        results = []
        for action in actions:
            if isinstance(action, SwitchFlagOff | RestoreFlag):
                namespace, rollout = target.namespace, target.name
                results.append(
                    self.flags.apply(namespace=namespace, rollout=rollout, action=action)
                )
            else:
                self.apply_one(target, action)
        return tuple(results)

    def apply_one(self, target: Target, action: Action) -> None:
        match action:
            case EnsureFinalizer():
                self._finalizers(target, add=True)
            case RemoveFinalizer():
                self._finalizers(target, add=False)
            case EnsureReplicaSet():
                self._ensure_replica_set(target, action)
            case DeleteReplicaSet(name=name):
                self._delete_replica_set(target, name)
            case UpdateDeployment():
                self._update_deployment(target, action)
            case SetCanaryWeight():
                self._set_weight(target, action)
            case RemoveManagedRoutes(stable=stable, router=name) if stable is not None:
                route = route_target(target, stable=stable, canary=None, headers=())
                self.router(name).remove_managed_routes(route)
            case RemoveManagedRoutes():
                pass  # never adopted: nothing was routed
            case _:
                raise AssertionError(f"unhandled action {action!r}")

    def _delete_replica_set(self, target: Target, name: str) -> None:
        path = REPLICA_SETS.object_path(target.namespace, name)
        try:
            self._send("DELETE", path, {"propagationPolicy": "Background"})
        except ApiException as err:
            if err.status != 404:
                raise

    def _set_weight(self, target: Target, action: SetCanaryWeight) -> None:
        """Set the routes, then read them back: a weight is reached only once served.

        Changes a router had to make to routes the status records as reached are
        repairs of someone else's edit: kept in ``target.repairs`` for an Event.
        """
        router = self.router(action.router)
        route = route_target(
            target, stable=action.stable, canary=action.canary, headers=action.header_routes
        )
        changes = router.set_weight(route, action.weight)
        if action.reached:
            target.repairs.extend(changes)
        if not router.verify_weight(route, action.weight):
            to = action.canary or action.stable
            raise TrafficNotVerified(
                f"{router.name}: {action.weight}% to {to} is set but not served yet"
            )

    def _finalizers(self, target: Target, *, add: bool) -> None:
        meta = target.obj["metadata"]
        current = list(meta.get("finalizers") or [])
        wanted = [*current, FINALIZER] if add else [f for f in current if f != FINALIZER]
        if wanted == current:
            return
        patch = {"metadata": {"finalizers": wanted, "resourceVersion": meta["resourceVersion"]}}
        path = ROLLOUTS.object_path(target.namespace, target.name)
        target.obj = self._send("PATCH", path, patch, patch=True)

    def _ensure_replica_set(self, target: Target, action: EnsureReplicaSet) -> None:
        name = replica_set_name(target.name, action.revision)
        path = REPLICA_SETS.object_path(target.namespace, name)
        existing = target.replica_sets.get(name)
        if existing is None and action.template is not None:
            deployment = target.deployment or {}
            body = manifests.replica_set(
                rollout=target.name,
                rollout_uid=target.uid,
                namespace=target.namespace,
                revision=action.revision,
                template=action.template,
                selector=deployment.get("spec", {}).get("selector") or {},
                replicas=action.replicas,
                min_ready_seconds=deployment.get("spec", {}).get("minReadySeconds", 0),
            )
            try:
                created = self._send("POST", REPLICA_SETS.collection_path(target.namespace), body)
                target.replica_sets[name] = created
                return
            except Conflict:
                existing = request_json(self.api, "GET", path, timeout=TIMEOUT)
        if existing is None:
            return
        if not owned_by(existing, target.uid):
            raise ForeignObject(f"ReplicaSet {target.namespace}/{name} exists and is not ours")
        if existing.get("spec", {}).get("replicas") == action.replicas:
            return
        patch = {"spec": {"replicas": action.replicas}}
        target.replica_sets[name] = self._send("PATCH", path, patch, patch=True)

    def _update_deployment(self, target: Target, action: UpdateDeployment) -> None:
        if target.deployment is None:
            return
        name = target.deployment["metadata"]["name"]
        patch = manifests.deployment_patch(
            replicas=action.replicas,
            paused=action.paused,
            desired_replicas=action.desired_replicas,
            rollout=target.name,
            labelled=action.labelled,
        )
        path = DEPLOYMENTS.object_path(target.namespace, name)
        target.deployment = self._send("PATCH", path, patch, patch=True)

    def write_status(self, target: Target, status: dict[str, Any]) -> dict[str, Any]:
        """Replace the status subresource, guarded by the resourceVersion we decided on."""
        body = {**target.obj, "status": status}
        path = ROLLOUTS.object_path(target.namespace, target.name) + "/status"
        written: dict[str, Any] = self._send("PUT", path, body)
        target.obj = written
        return written
