"""Gateway API router: weights on ``HTTPRoute``/``GRPCRoute`` backendRefs.

``trafficRouting.gatewayAPI`` names routes in the Rollout's namespace and,
optionally, one rule of each by its ``name``; without one, every rule whose
backendRefs name both the stable and the canary Service is weighed. What the
controller owns on a route, and why it writes with a guarded JSON Patch rather than
server-side apply (the CRDs' ``rules`` and ``backendRefs`` lists are atomic), is
in :mod:`controller.traffic.gatewayapi_plan`; this module reads and writes.

A weight counts as served when the route, read back, carries it (and our header
rules), both Services select their revision, and every Gateway that reports on the
route with an ``observedGeneration`` has accepted the current generation and
resolved its references. Without a Gateway implementation there is no such status
and the spec read back is all there is to verify.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api.routing import RouterKind
from controller.kube.transport import Resource, request_json
from controller.traffic import RouteError, RouteTarget
from controller.traffic.gatewayapi_plan import (
    PlanError,
    RouteKind,
    Wanted,
    merged,
    plan,
    served,
    targeted_rules,
)
from controller.traffic.services import Services

__all__ = ["GROUP", "VERSION", "GatewayAPIRouter"]

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"
JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = "landinggear"
TIMEOUT = (5.0, 30.0)


def _resource(kind: RouteKind) -> Resource:
    return Resource(group=GROUP, version=VERSION, plural=kind.plural)


class GatewayAPIRouter:
    """Sets weights on the Gateway API routes a Rollout names (I/O)."""

    name = RouterKind.GATEWAY_API.value

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.services = Services(api)

    # ------------------------------------------------------------ reading

    def _wanted(self, target: RouteTarget, weight: int) -> Iterator[tuple[str, Wanted]]:
        """Each route named by the Rollout, and what it should say."""
        gateway = target.routing.gateway_api if target.routing else None
        if gateway is None:
            return
        for kind, refs in (
            (RouteKind.HTTP, gateway.http_routes),
            (RouteKind.GRPC, gateway.grpc_routes),
        ):
            for name, rules in merged((r.name, r.rule) for r in refs).items():
                yield (
                    name,
                    Wanted(
                        kind=kind,
                        stable_service=target.stable_service,
                        canary_service=target.canary_service,
                        weight=weight,
                        rules=rules,
                        header_routes=target.header_routes,
                    ),
                )

    def _served_kinds(self) -> set[str] | None:
        """Plural names served by the group/version; None when it is not served."""
        try:
            found = request_json(self.api, "GET", f"/apis/{GROUP}/{VERSION}", timeout=TIMEOUT)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return {str(r.get("name")) for r in found.get("resources") or []}

    def _get(self, kind: RouteKind, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = request_json(
                self.api, "GET", _resource(kind).object_path(namespace, name), timeout=TIMEOUT
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    # ------------------------------------------------------------ the Router protocol

    def check(self, target: RouteTarget) -> None:
        served_kinds: set[str] | None = None
        for name, wanted in self._wanted(target, 0):
            if served_kinds is None:
                served_kinds = self._served_kinds()
                if served_kinds is None:
                    raise RouteError(
                        f"the API server does not serve {GROUP}/{VERSION}: install the "
                        "Gateway API CRDs (standard channel)"
                    )
            if wanted.kind.plural not in served_kinds:
                raise RouteError(
                    f"the API server serves {GROUP}/{VERSION} but not {wanted.kind.plural}: "
                    f"install the {wanted.kind.value} CRD (Gateway API standard channel)"
                )
            route = self._get(wanted.kind, target.namespace, name)
            if route is None:
                raise RouteError(
                    f"{wanted.kind.value} {target.namespace}/{name} does not exist: create "
                    "it, or name an existing route in trafficRouting.gatewayAPI"
                )
            try:
                targeted_rules(route, wanted)
            except PlanError as err:
                raise RouteError(str(err)) from err

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        changes = list(self.services.ensure(target))
        for name, wanted in self._wanted(target, weight):
            changes.extend(self._patch(target.namespace, name, wanted, lenient=False))
        return changes

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        for name, wanted in self._wanted(target, weight):
            route = self._get(wanted.kind, target.namespace, name)
            if route is None or not served(route, wanted):
                return False
        return self.services.verify(target)

    def remove_managed_routes(self, target: RouteTarget) -> None:
        home = RouteTarget(
            namespace=target.namespace,
            rollout=target.rollout,
            rollout_uid=target.rollout_uid,
            stable=target.stable,
            canary=None,
            routing=target.routing,
            stable_service=target.stable_service,
            canary_service=target.canary_service,
        )
        if self._served_kinds() is not None:
            for name, wanted in self._wanted(home, 0):
                self._patch(target.namespace, name, wanted, lenient=True)
        self.services.release(target)

    # ------------------------------------------------------------ writing

    def _patch(self, namespace: str, name: str, wanted: Wanted, *, lenient: bool) -> list[str]:
        """Patch one route to what is wanted; what changed (nothing: no request).

        A route changed since it was read fails the patch's tests (409/422 from the
        API server): the error propagates and the reconcile is retried from a fresh read.
        """
        route = self._get(wanted.kind, namespace, name)
        if route is None:
            if lenient:
                return []
            raise RouteError(f"{wanted.kind.value} {namespace}/{name} does not exist")
        try:
            planned = plan(route, wanted, lenient=lenient)
        except PlanError as err:
            raise RouteError(str(err)) from err
        if not planned.ops:
            return []
        try:
            request_json(
                self.api,
                "PATCH",
                _resource(wanted.kind).object_path(namespace, name),
                body=planned.ops,
                query=[("fieldManager", FIELD_MANAGER)],
                content_type=JSON_PATCH,
                timeout=TIMEOUT,
            )
        except ApiException as err:
            if lenient and err.status == 404:
                return []
            raise
        return planned.changes
