"""The NGINX router: ingress-nginx canary annotations on a canary Ingress we own.

The stable Ingress (``trafficRouting.nginx.stableIngress``) is only read. The
canary Ingress is planned by :mod:`controller.traffic.nginx_plan` from it on
every ``set_weight``, so a change to the stable's rules reaches the canary, and a
hand edit of the canary is put back (and reported, as a change made).

Writes: the canary Ingress is created with POST; afterwards a JSON merge patch
carries only the fields that differ (the annotations, our label, the spec),
with the observed ``resourceVersion`` in it. The patch rather than a PUT: it
leaves alone what others keep on the object (finalizers, other labels, the
status ingress-nginx writes) and is empty when nothing differs, so nothing is
sent; the resourceVersion makes it fail (409, retried on the next reconcile)
rather than remove annotations someone added after we read the object.

During the Rollout's life the canary Ingress stays, at weight 0 when the
stable takes everything (an abort reads that back before the canary is scaled
down); ``remove_managed_routes`` deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api.routing import RouterKind
from controller.kube.transport import Resource, request_json
from controller.traffic import RouteError, RouteTarget
from controller.traffic import nginx_plan as plan
from controller.traffic.services import Services

__all__ = ["INGRESSES", "NginxRouter"]

INGRESSES = Resource(group="networking.k8s.io", version="v1", plural="ingresses")
MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)
FIELD_MANAGER = "landinggear"


def _spec(target: RouteTarget) -> plan.CanaryIngress:
    routing = target.routing
    nginx = routing.nginx if routing is not None else None
    if nginx is None:
        raise RouteError(f"Rollout {target.namespace}/{target.rollout} names no nginx routing")
    return plan.CanaryIngress(
        namespace=target.namespace,
        rollout=target.rollout,
        rollout_uid=target.rollout_uid,
        stable_ingress=nginx.stable_ingress,
        stable_service=target.stable_service,
        canary_service=target.canary_service,
        additional_annotations=nginx.additional_ingress_annotations,
        header_routes=target.header_routes,
    )


class NginxRouter:
    """Weights as ingress-nginx canary annotations (see the module docstring)."""

    name = RouterKind.NGINX.value

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.services = Services(api)

    def _get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = request_json(
                self.api, "GET", INGRESSES.object_path(namespace, name), timeout=TIMEOUT
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return found

    def _stable(self, spec: plan.CanaryIngress) -> dict[str, Any]:
        stable = self._get(spec.namespace, spec.stable_ingress)
        if stable is None:
            raise RouteError(
                f"Ingress {spec.namespace}/{spec.stable_ingress} (trafficRouting.nginx."
                "stableIngress) does not exist: create it, or name an existing Ingress"
            )
        problem = plan.stable_problem(stable, spec)
        if problem is not None:
            raise RouteError(problem)
        return stable

    def _canary(self, spec: plan.CanaryIngress) -> dict[str, Any] | None:
        canary = self._get(spec.namespace, spec.name)
        if canary is not None and not plan.owned_by(canary, spec.rollout_uid):
            raise RouteError(
                f"Ingress {spec.namespace}/{spec.name} exists and is not this Rollout's: "
                "the controller will not change it; delete or rename it so the canary "
                "Ingress can be created"
            )
        return canary

    def check(self, target: RouteTarget) -> None:
        spec = _spec(target)
        self._stable(spec)
        self._canary(spec)

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        spec = _spec(target)
        said = list(self.services.ensure(target))
        stable = self._stable(spec)
        canary = self._canary(spec)
        wanted = plan.desired(stable, spec, weight)
        if canary is None:
            request_json(
                self.api,
                "POST",
                INGRESSES.collection_path(spec.namespace),
                body=wanted,
                query=[("fieldManager", FIELD_MANAGER)],
                timeout=TIMEOUT,
            )
            return [*said, *plan.changes(None, wanted)]
        body = plan.patch(canary, wanted)
        if body is None:
            return said
        request_json(
            self.api,
            "PATCH",
            INGRESSES.object_path(spec.namespace, spec.name),
            body=body,
            query=[("fieldManager", FIELD_MANAGER)],
            content_type=MERGE_PATCH,
            timeout=TIMEOUT,
        )
        return [*said, *plan.changes(canary, body)]

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        spec = _spec(target)
        canary = self._get(spec.namespace, spec.name)
        if canary is None or not plan.owned_by(canary, spec.rollout_uid):
            return False
        if plan.weight_of(canary) != weight:
            return False
        return self.services.verify(target)

    def remove_managed_routes(self, target: RouteTarget) -> None:
        spec = _spec(target)
        canary = self._get(spec.namespace, spec.name)
        if canary is not None and plan.owned_by(canary, spec.rollout_uid):
            try:
                request_json(
                    self.api,
                    "DELETE",
                    INGRESSES.object_path(spec.namespace, spec.name),
                    body={
                        "propagationPolicy": "Background",
                        "preconditions": {"uid": canary["metadata"]["uid"]},
                    },
                    timeout=TIMEOUT,
                )
            except ApiException as err:
                if err.status not in (404, 409):
                    raise
        self.services.release(target)
