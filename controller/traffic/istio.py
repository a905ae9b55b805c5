"""The Istio router: weights on a VirtualService's http routes, optionally by subsets.

``trafficRouting.istio.virtualService`` names the VirtualService and (optionally)
the http routes to weigh; their destinations for the stable and canary get
``100 - weight`` and ``weight``. Without a DestinationRule the destinations are
told apart by host (``stableService`` / ``canaryService``, whose selectors
:class:`~controller.traffic.services.Services` points at the revisions); with
one, by subset, and the controller sets the revision label in the two subsets'
``labels`` (the other labels, fields and ``trafficPolicy`` stay the user's). The
destinations' host must then be a Service selecting both revisions (the app's
own), not ``stableService``: that one selects only the stable's pods, so a
canary subset of it would have no endpoints — :meth:`IstioRouter.check` refuses it.

``spec.http`` and ``spec.subsets`` are atomic lists in Istio's CRDs, so the
controller writes JSON Patches that address only its fields by index, guarded
by ``test`` ops on the destinations / subset names at those indexes and on
``metadata.resourceVersion`` (:mod:`controller.traffic.istio_plan`). A patch that
fails its tests (the object changed since it was read; the API server answers
422) is re-planned from a fresh read, a few times, then left to the next
reconcile as a 409. Istio does not report a VirtualService's status by default;
where ``status.observedGeneration`` is present and behind, the weight is not
verified yet.

The API version is the one Istio's CRD serves, ``v1`` when it does, found by
discovery (so a missing CRD is told apart from a missing object).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api.routing import Istio, RouterKind
from controller.kube.transport import Resource, request_json
from controller.traffic import RouteError, RouteTarget
from controller.traffic.istio_plan import (
    Backends,
    Op,
    PlanError,
    http_patch,
    released_subsets,
    removed_header_routes,
    subset_patch,
    weighted_routes,
)
from controller.traffic.services import Services

__all__ = ["IstioRouter"]

GROUP = "networking.istio.io"
PREFERRED_VERSION = "v1"
JSON_PATCH = "application/json-patch+json"
FIELD_MANAGER = "landinggear"
TIMEOUT = (5.0, 30.0)
ATTEMPTS = 3
"""Reads and patches of one object per call when its patch fails its tests."""


def _test_failed(err: ApiException) -> bool:
    """A JSON Patch ``test`` failed: 422 without the details a validation error has."""
    return err.status == 422 and '"name"' not in str(err.body or "")


class IstioRouter:
    """Sets exact weights on an Istio VirtualService (I/O)."""

    name = RouterKind.ISTIO.value

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.services = Services(api)
        self._version: str | None = None

    # ---------------------------------------------------------------- reading

    def _resource(self, plural: str) -> Resource:
        if self._version is None:
            try:
                group = request_json(self.api, "GET", f"/apis/{GROUP}", timeout=TIMEOUT)
            except ApiException as err:
                if err.status == 404:
                    raise RouteError(
                        f"the {GROUP} API is not served (no VirtualService CRD): install "
                        "Istio's CRDs, or route the Rollout another way"
                    ) from err
                raise
            versions = [v["version"] for v in group.get("versions") or []]
            preferred = (group.get("preferredVersion") or {}).get("version")
            chosen = PREFERRED_VERSION if PREFERRED_VERSION in versions else preferred
            if not chosen:
                raise RouteError(f"the {GROUP} API serves no version: install Istio's CRDs")
            self._version = chosen
        return Resource(group=GROUP, version=self._version, plural=plural)

    def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        path = self._resource(plural).object_path(namespace, name)
        try:
            found: dict[str, Any] = request_json(self.api, "GET", path, timeout=TIMEOUT)
        except ApiException as err:
            if err.status != 404:
                raise
            self._version = None  # the CRD may be gone: look again next time
            self._resource(plural)
            return None
        return found

    @staticmethod
    def _spec(target: RouteTarget) -> Istio:
        istio = target.routing.istio if target.routing else None
        if istio is None:
            raise RouteError("trafficRouting has no istio section")
        return istio

    @staticmethod
    def _backends(target: RouteTarget, istio: Istio) -> Backends:
        rule = istio.destination_rule
        return Backends(
            namespace=target.namespace,
            stable_service=target.stable_service,
            canary_service=target.canary_service,
            stable_subset=rule.stable_subset if rule else None,
            canary_subset=rule.canary_subset if rule else None,
        )

    def _virtual_service(self, target: RouteTarget, istio: Istio) -> dict[str, Any]:
        name = istio.virtual_service.name
        found = self._get("virtualservices", target.namespace, name)
        if found is None:
            raise RouteError(
                f"VirtualService {target.namespace}/{name} not found: create it with an http "
                "route to the stable and canary, or fix trafficRouting.istio.virtualService"
            )
        return found

    def _destination_rule(self, target: RouteTarget, istio: Istio) -> dict[str, Any] | None:
        rule = istio.destination_rule
        if rule is None:
            return None
        found = self._get("destinationrules", target.namespace, rule.name)
        if found is None:
            raise RouteError(
                f"DestinationRule {target.namespace}/{rule.name} not found: create it with "
                f"subsets {rule.stable_subset} and {rule.canary_subset}, or fix "
                "trafficRouting.istio.destinationRule"
            )
        return found

    def _subsets(self, target: RouteTarget, istio: Istio) -> dict[str, str]:
        rule = istio.destination_rule
        if rule is None:
            return {}
        return {rule.stable_subset: target.stable, rule.canary_subset: target.routed_canary}

    # ---------------------------------------------------------------- Router

    def check(self, target: RouteTarget) -> None:
        istio = self._spec(target)
        backends = self._backends(target, istio)
        observed = self._virtual_service(target, istio)
        name = istio.virtual_service.name
        try:
            http_patch(observed, names=istio.virtual_service.routes, backends=backends, weight=0)
            rule = self._destination_rule(target, istio)
            if rule is not None:
                subset_patch(rule, self._subsets(target, istio))
        except PlanError as err:
            raise RouteError(str(err)) from err
        if rule is None:
            return
        http = (observed.get("spec") or {}).get("http") or []
        by_host = Backends(
            namespace=target.namespace,
            stable_service=target.stable_service,
            canary_service=target.canary_service,
        )
        for found in weighted_routes(
            http, names=istio.virtual_service.routes, backends=backends, what=name
        ):
            for j in (found.stable, found.canary):
                destination = http[found.index]["route"][j]["destination"]
                if by_host.is_stable(destination) or by_host.is_canary(destination):
                    raise RouteError(
                        f"VirtualService {name} routes subsets of host "
                        f"{destination.get('host')}, which is stableService or canaryService: "
                        "their selectors pin one revision, so a subset of the other would have "
                        "no endpoints; use the app's own Service (selecting both revisions) as "
                        "the host"
                    )

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        istio = self._spec(target)
        changes = list(self.services.ensure(target))
        rule = istio.destination_rule
        if rule is not None:
            wanted = self._subsets(target, istio)
            changes += self._patch(
                "destinationrules",
                target.namespace,
                rule.name,
                lambda obj, said: subset_patch(obj, wanted, changes=said),
            )
        if weight == 0 and not any(h.match for h in target.header_routes):
            # The canary side carries no request: pointing it at a new canary is no
            # repair of traffic (the core does not count it as routed either).
            idle = [f"Service {target.canary_service} "]
            if rule is not None:
                idle.append(f"subset {rule.canary_subset} ")
            changes = [c for c in changes if not any(i in c for i in idle)]
        backends = self._backends(target, istio)
        changes += self._patch(
            "virtualservices",
            target.namespace,
            istio.virtual_service.name,
            lambda obj, said: http_patch(
                obj,
                names=istio.virtual_service.routes,
                backends=backends,
                weight=weight,
                header_routes=target.header_routes,
                changes=said,
            ),
        )
        return changes

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        istio = self._spec(target)
        observed = self._get("virtualservices", target.namespace, istio.virtual_service.name)
        if observed is None or _behind(observed):
            return False
        rule = istio.destination_rule
        try:
            if http_patch(
                observed,
                names=istio.virtual_service.routes,
                backends=self._backends(target, istio),
                weight=weight,
                header_routes=target.header_routes,
            ):
                return False
            if rule is not None:
                found = self._get("destinationrules", target.namespace, rule.name)
                if found is None or _behind(found):
                    return False
                if subset_patch(found, self._subsets(target, istio)):
                    return False
        except PlanError:
            return False
        return self.services.verify(target)

    def remove_managed_routes(self, target: RouteTarget) -> None:
        istio = self._spec(target)
        backends = self._backends(target, istio)

        def handed_back(obj: dict[str, Any], said: list[str]) -> list[Op]:
            try:
                return http_patch(
                    obj, names=istio.virtual_service.routes, backends=backends, weight=0
                )
            except PlanError:  # the weighted routes are gone: only ours to take out
                return removed_header_routes(obj)

        with contextlib.suppress(RouteError):  # the VirtualService or its CRD is gone
            self._patch(
                "virtualservices", target.namespace, istio.virtual_service.name, handed_back
            )
        rule = istio.destination_rule
        if rule is not None:
            subsets = [rule.stable_subset, rule.canary_subset]
            with contextlib.suppress(RouteError):
                self._patch(
                    "destinationrules",
                    target.namespace,
                    rule.name,
                    lambda obj, said: released_subsets(obj, subsets),
                )
        self.services.release(target)

    # ---------------------------------------------------------------- writing

    def _patch(
        self,
        plural: str,
        namespace: str,
        name: str,
        plan: Callable[[dict[str, Any], list[str]], list[Op]],
    ) -> list[str]:
        """Read the object, plan its patch, send it; again from a fresh read when the
        patch's tests fail. What changed, in words."""
        for attempt in range(ATTEMPTS):
            observed = self._get(plural, namespace, name)
            if observed is None:
                raise RouteError(f"{plural} {namespace}/{name} not found")
            said: list[str] = []
            try:
                ops = plan(observed, said)
            except PlanError as err:
                raise RouteError(str(err)) from err
            if not ops:
                return []
            try:
                request_json(
                    self.api,
                    "PATCH",
                    self._resource(plural).object_path(namespace, name),
                    body=ops,
                    query=[("fieldManager", FIELD_MANAGER)],
                    content_type=JSON_PATCH,
                    timeout=TIMEOUT,
                )
            except ApiException as err:
                if not _test_failed(err):
                    raise
                if attempt + 1 < ATTEMPTS:
                    continue
                raise ApiException(
                    status=409,
                    reason=f"{plural} {namespace}/{name} kept changing while being patched",
                ) from err
            return said
        raise AssertionError("unreachable")


def _behind(obj: dict[str, Any]) -> bool:
    """The object's status reports an older generation than its spec's."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    if observed in (None, ""):
        return False
    return int(observed) < int((obj.get("metadata") or {}).get("generation") or 0)
