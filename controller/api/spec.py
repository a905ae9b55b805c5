"""The Rollout's spec: which Deployment to release, and how (the canary strategy).

CEL rules that tie fields of the strategy together (analysis steps and the
analysis they name, routers and the Services they need) sit on
:class:`CanaryStrategy`, beside the pydantic validators that check the same when a
Rollout is parsed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from controller.api.analysis import Analysis
from controller.api.base import Duration, Model, cel
from controller.api.flags import (
    FEATURE_FLAGS_RULES,
    MAX_FLAGS,
    FeatureFlag,
    OnAnomaly,
    check_flags,
)
from controller.api.routing import DNS_LABEL, RouterKind, TrafficRouting
from controller.api.steps import Step

__all__ = ["CanaryStrategy", "RolloutSpec", "Strategy", "WorkloadRef"]


class WorkloadRef(Model):
    """The user's Deployment, which holds the pod template to release."""

    api_version: Literal["apps/v1"] = Field(
        default="apps/v1", description="API version of the workload; only apps/v1."
    )
    kind: Literal["Deployment"] = Field(
        default="Deployment", description="Kind of the workload; only Deployment."
    )
    name: str = Field(
        min_length=1, max_length=253, description="Name of the Deployment in this namespace."
    )


class CanaryStrategy(Model):
    """Release the new revision step by step."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.steps) || !self.steps.exists(s, has(s.analysis)) "
                    "|| has(self.analysis)",
                    "analysis steps need spec.strategy.canary.analysis",
                    field_path=".steps",
                ),
                cel(
                    "!has(self.steps) || !has(self.analysis) || self.steps.all(s, "
                    "!has(s.analysis) || !has(s.analysis.metrics) || s.analysis.metrics.all("
                    "m, self.analysis.metrics.exists(x, x.name == m)))",
                    "analysis steps may only name metrics of spec.strategy.canary.analysis",
                    field_path=".steps",
                ),
                cel(
                    "!has(self.trafficRouting) || (has(self.trafficRouting.istio) && "
                    "has(self.trafficRouting.istio.destinationRule) && "
                    "!has(self.stableService) && !has(self.canaryService)) || "
                    "(has(self.stableService) && has(self.canaryService) && "
                    "self.stableService != self.canaryService)",
                    "trafficRouting needs stableService and canaryService, two different "
                    "Services (Istio by DestinationRule subsets may name neither)",
                    field_path=".trafficRouting",
                ),
                cel(
                    "has(self.trafficRouting) || !has(self.steps) || !self.steps.exists(s, "
                    "has(s.setHeaderRoute) || has(s.setCanaryScale))",
                    "setHeaderRoute and setCanaryScale steps need trafficRouting (with replica "
                    "ratio the canary's pods are its traffic)",
                    field_path=".steps",
                ),
                cel(
                    "!has(self.trafficRouting) || !has(self.trafficRouting.nginx) || "
                    "!has(self.steps) || self.steps.all(s, !has(s.setHeaderRoute) || "
                    "(size(s.setHeaderRoute.match) <= 1 && s.setHeaderRoute.match.all(m, "
                    "!has(m.headerValue.prefix))))",
                    "nginx header routes match one header, by exact value or regex "
                    "(canary-by-header-value / -pattern)",
                    field_path=".steps",
                ),
                cel(
                    "!has(self.trafficRouting) || !has(self.trafficRouting.nginx) || "
                    "!has(self.steps) || self.steps.all(a, !has(a.setHeaderRoute) || "
                    "self.steps.all(b, !has(b.setHeaderRoute) || "
                    "a.setHeaderRoute.name == b.setHeaderRoute.name))",
                    "nginx serves one header route (one canary-by-header per canary Ingress): "
                    "every setHeaderRoute step must name the same route",
                    field_path=".steps",
                ),
            ]
        }
    )

    steps: list[Step] = Field(
        default_factory=list,
        max_length=64,
        description="Steps in order; with none, a Ready canary is promoted at once.",
    )
    stable_service: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Service the router sends the stable's share to; the controller points "
        "its selector at the stable's pods (created from the pod template's ports if missing, "
        "owned by the Rollout).",
    )
    canary_service: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Service the router sends the canary's share to; it selects the canary's "
        "pods during a release and the stable's otherwise.",
    )
    traffic_routing: TrafficRouting | None = Field(
        default=None,
        description="Exact weights through a router (Gateway API, Istio, NGINX) instead of "
        "replica ratio; needs stableService and canaryService.",
    )
    analysis: Analysis | None = Field(
        default=None,
        description="Judge canary against stable on metrics while the canary runs; a "
        "failing metric aborts the release.",
    )
    on_anomaly: OnAnomaly | None = Field(
        default=None,
        description="What a failed analysis does: Rollback (abort; aborts leave the flags "
        "alone), RollbackAndDisableFlags (abort and switch spec.featureFlags off), "
        "DisableFlags (switch the flags off, keep the canary at its weight and judge it "
        "again from zero; a second failure aborts). Default: RollbackAndDisableFlags when "
        "spec.featureFlags is set, else Rollback.",
    )
    flag_propagation: Duration = Field(
        default="15s",
        description="How long the apps take to see a flag change (their flag SDK's refresh; "
        "Unleash's SDKs poll every 15s by default). After onAnomaly DisableFlags switches "
        "the flags off, the new analysis counts requests from this long later, so requests "
        "served before the apps saw the flags off are not held against the canary.",
    )

    @model_validator(mode="after")
    def _routing(self) -> CanaryStrategy:
        routing = self.traffic_routing
        if routing is None:
            if any(s.set_header_route or s.set_canary_scale for s in self.steps):
                raise ValueError("setHeaderRoute and setCanaryScale steps need trafficRouting")
            return self
        by_subsets = routing.istio is not None and routing.istio.destination_rule is not None
        if by_subsets and not self.stable_service and not self.canary_service:
            return self
        if not self.stable_service or not self.canary_service:
            raise ValueError(
                "trafficRouting needs stableService and canaryService (Istio by "
                "DestinationRule subsets may name neither)"
            )
        if self.stable_service == self.canary_service:
            raise ValueError("stableService and canaryService must be two different Services")
        if routing.kind is RouterKind.NGINX:
            names = {s.set_header_route.name for s in self.steps if s.set_header_route}
            if len(names) > 1:
                raise ValueError(
                    "nginx serves one header route (one canary-by-header per canary Ingress): "
                    f"every setHeaderRoute step must name the same route, not {sorted(names)}"
                )
            for index, step in enumerate(self.steps):
                route = step.set_header_route
                if route is not None and (
                    len(route.match) > 1 or any(m.header_value.prefix for m in route.match)
                ):
                    raise ValueError(
                        f"step {index}: nginx header routes match one header, by exact value "
                        "or regex"
                    )
        return self

    @model_validator(mode="after")
    def _steps_name_metrics(self) -> CanaryStrategy:
        names = {m.name for m in self.analysis.metrics} if self.analysis else set()
        for index, step in enumerate(self.steps):
            if step.analysis is None:
                continue
            if self.analysis is None:
                raise ValueError(f"step {index}: analysis steps need canary.analysis")
            unknown = [m for m in step.analysis.metrics if m not in names]
            if unknown:
                raise ValueError(f"step {index}: unknown analysis metrics {unknown}")
        return self


class Strategy(Model):
    """How a new revision is released."""

    canary: CanaryStrategy = Field(description="Canary release in steps.")


class RolloutSpec(Model):
    """Desired behaviour of a Rollout."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": list(FEATURE_FLAGS_RULES)}
    )

    workload_ref: WorkloadRef = Field(description="The Deployment whose template is released.")
    strategy: Strategy = Field(description="Release strategy.")
    replicas: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Desired pods; defaults to the Deployment's replicas at adoption.",
    )
    progress_deadline_seconds: int = Field(
        default=600,
        ge=1,
        le=86400,
        description="Abort a canary whose pods make no progress towards Ready for this long.",
    )
    paused: bool = Field(
        default=False, description="Hold the canary at its current step (landinggear pause)."
    )
    revision_history_limit: int = Field(
        default=3,
        ge=1,
        le=50,
        description="Old ReplicaSets kept at zero replicas for rollback.",
    )
    feature_flags: list[FeatureFlag] = Field(
        default_factory=list,
        max_length=MAX_FLAGS,
        description="The release's feature flags: switched off on an abort, a rollback or "
        "a guard failure (each flag's disableOn), put back by `landinggear retry`.",
    )

    @model_validator(mode="after")
    def _flags(self) -> RolloutSpec:
        check_flags(self.feature_flags, self.strategy.canary.on_anomaly)
        return self

    @property
    def anomaly_policy(self) -> OnAnomaly:
        """``strategy.canary.onAnomaly`` with its default filled in: with flags declared,
        an anomaly switches them off as it rolls back; without, it only rolls back."""
        chosen = self.strategy.canary.on_anomaly
        if chosen is not None:
            return chosen
        return OnAnomaly.ROLLBACK_AND_DISABLE_FLAGS if self.feature_flags else OnAnomaly.ROLLBACK
