"""Traffic routing in the Rollout API: which router shapes the canary's traffic.

Without ``trafficRouting`` the canary's share follows its share of Ready pods
behind the user's one Service (replica ratio). With it, a router sets exact
weights on the user's own route objects — Gateway API ``HTTPRoute``/``GRPCRoute``,
an Istio ``VirtualService`` (optionally by ``DestinationRule`` subsets), or
ingress-nginx canary annotations on a canary Ingress cloned from the stable one —
between ``stableService`` and ``canaryService``, whose selectors the controller
points at the stable and canary pods. Only the weights (and the header routes of
``setHeaderRoute`` steps) are the controller's; every other field stays the user's.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from controller.api.base import Model, cel

__all__ = [
    "DNS_LABEL",
    "GatewayAPI",
    "HeaderMatch",
    "HeaderValue",
    "Istio",
    "IstioDestinationRule",
    "IstioVirtualService",
    "Nginx",
    "RouteRef",
    "RouterKind",
    "SetCanaryScale",
    "SetHeaderRoute",
    "TrafficRouting",
]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class RouterKind(StrEnum):
    """The routers, named as the action's ``router`` and the I/O layer's router names."""

    GATEWAY_API = "gatewayAPI"
    ISTIO = "istio"
    NGINX = "nginx"


class RouteRef(Model):
    """One Gateway API route in the Rollout's namespace, and which of its rules to weigh."""

    name: str = Field(min_length=1, max_length=253, pattern=_NAME, description="Name of the route.")
    rule: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description="The rule (its `name`) whose backendRefs get the weights; omit for "
        "every rule whose backendRefs name the stable and canary Services.",
    )


class GatewayAPI(Model):
    """Weights on Gateway API routes' ``backendRefs`` (standard channel)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "(has(self.httpRoutes) ? size(self.httpRoutes) : 0)"
                    " + (has(self.grpcRoutes) ? size(self.grpcRoutes) : 0) > 0",
                    "gatewayAPI needs at least one of httpRoutes or grpcRoutes",
                )
            ]
        }
    )

    http_routes: list[RouteRef] = Field(
        default_factory=list, max_length=16, description="HTTPRoutes to weigh."
    )
    grpc_routes: list[RouteRef] = Field(
        default_factory=list, max_length=16, description="GRPCRoutes to weigh."
    )

    @model_validator(mode="after")
    def _some(self) -> GatewayAPI:
        if not self.http_routes and not self.grpc_routes:
            raise ValueError("gatewayAPI needs at least one of httpRoutes or grpcRoutes")
        return self


class IstioVirtualService(Model):
    name: str = Field(
        min_length=1, max_length=253, pattern=_NAME, description="Name of the VirtualService."
    )
    routes: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Names of its http routes to weigh; omit for every http route whose "
        "destinations are the stable and canary Services (or subsets).",
    )


class IstioDestinationRule(Model):
    name: str = Field(
        min_length=1, max_length=253, pattern=_NAME, description="Name of the DestinationRule."
    )
    stable_subset: str = Field(
        min_length=1, max_length=63, description="Subset the controller points at the stable."
    )
    canary_subset: str = Field(
        min_length=1, max_length=63, description="Subset the controller points at the canary."
    )


class Istio(Model):
    """Weights on an Istio ``VirtualService``'s http route destinations."""

    virtual_service: IstioVirtualService = Field(description="The VirtualService to weigh.")
    destination_rule: IstioDestinationRule | None = Field(
        default=None,
        description="Route by subsets of one host (the stable Service) instead of by the "
        "two Services; the controller sets the subsets' revision labels.",
    )


class Nginx(Model):
    """ingress-nginx canary annotations on a canary Ingress cloned from the stable one."""

    stable_ingress: str = Field(
        min_length=1, max_length=253, pattern=_NAME, description="The user's Ingress."
    )
    additional_ingress_annotations: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Extra annotations for the canary Ingress (e.g. canary-by-cookie).",
    )


class TrafficRouting(Model):
    """Exactly one router."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.gatewayAPI), has(self.istio), has(self.nginx)]"
                    ".filter(x, x).size() == 1",
                    "trafficRouting needs exactly one of gatewayAPI, istio or nginx",
                )
            ]
        }
    )

    gateway_api: GatewayAPI | None = Field(
        default=None, alias="gatewayAPI", description="Gateway API routes."
    )
    istio: Istio | None = Field(default=None, description="An Istio VirtualService.")
    nginx: Nginx | None = Field(default=None, description="ingress-nginx annotations.")

    @model_validator(mode="after")
    def _one(self) -> TrafficRouting:
        chosen = [x for x in (self.gateway_api, self.istio, self.nginx) if x is not None]
        if len(chosen) != 1:
            raise ValueError("trafficRouting needs exactly one of gatewayAPI, istio or nginx")
        return self

    @property
    def kind(self) -> RouterKind:
        if self.gateway_api is not None:
            return RouterKind.GATEWAY_API
        if self.istio is not None:
            return RouterKind.ISTIO
        return RouterKind.NGINX


class HeaderValue(Model):
    """How a header's value matches: exactly one of exact, prefix, regex."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.exact), has(self.prefix), has(self.regex)].filter(x, x).size() == 1",
                    "headerValue needs exactly one of exact, prefix or regex",
                )
            ]
        }
    )

    exact: str | None = Field(default=None, max_length=256)
    prefix: str | None = Field(default=None, max_length=256)
    regex: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _one(self) -> HeaderValue:
        if sum(x is not None for x in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("headerValue needs exactly one of exact, prefix or regex")
        return self


class HeaderMatch(Model):
    header_name: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$",
        description="HTTP header name (case-insensitive).",
    )
    header_value: HeaderValue = Field(description="How its value matches.")


class SetHeaderRoute(Model):
    """Send requests matching headers to the canary, whatever the weight.

    The route is the controller's own rule (Gateway API), http route (Istio) or
    ``canary-by-header`` annotation (NGINX); a later ``setHeaderRoute`` of the same
    name with no ``match`` removes it, and every header route goes at promotion or
    abort.
    """

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL, description="Name of the route."
    )
    match: list[HeaderMatch] = Field(
        default_factory=list,
        max_length=8,
        description="All must match (AND); omit to remove the route of this name.",
    )


class SetCanaryScale(Model):
    """Size the canary independently of its traffic weight (routers only)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.weight), has(self.replicas), "
                    "has(self.matchTrafficWeight) && self.matchTrafficWeight]"
                    ".filter(x, x).size() == 1",
                    "setCanaryScale needs exactly one of weight, replicas or "
                    "matchTrafficWeight: true",
                )
            ]
        }
    )

    weight: int | None = Field(
        default=None, ge=0, le=100, description="Canary pods as a percent of spec replicas."
    )
    replicas: int | None = Field(default=None, ge=0, le=10000, description="Canary pods.")
    match_traffic_weight: bool | None = Field(
        default=None, description="Back to the default: canary pods follow the weight."
    )

    @model_validator(mode="after")
    def _one(self) -> SetCanaryScale:
        chosen = [
            self.weight is not None,
            self.replicas is not None,
            bool(self.match_traffic_weight),
        ]
        if sum(chosen) != 1:
            raise ValueError(
                "setCanaryScale needs exactly one of weight, replicas or matchTrafficWeight: true"
            )
        return self
