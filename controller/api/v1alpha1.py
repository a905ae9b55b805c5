"""The ``landinggear.dev/v1alpha1`` ``Rollout`` API: one source of truth.

These pydantic models parse Rollouts read from the API server, serialise the
status the controller writes, and generate the CRD's OpenAPI schema
(:mod:`controller.api.crd`). CEL rules for what the schema alone cannot say are
attached here, next to the fields they guard, so the generated CRD refuses a bad
Rollout at ``kubectl apply`` time with the rule's message.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from controller.api.analysis import Analysis, AnalysisStatus, AnalysisStep
from controller.api.base import (
    DURATION_PATTERN,
    Model,
    cel,
    parse_duration,
)
from controller.api.flags import (
    FEATURE_FLAGS_RULES,
    MAX_FLAGS,
    FeatureFlag,
    FlagStatus,
    OnAnomaly,
    check_flags,
)
from controller.api.routing import (
    DNS_LABEL,
    RouterKind,
    SetCanaryScale,
    SetHeaderRoute,
    TrafficRouting,
)

GROUP = "landinggear.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Rollout"
PLURAL = "rollouts"
SINGULAR = "rollout"
SHORT_NAMES = ("lgro",)

HISTORY_LIMIT = 20
"""Status history keeps at most this many entries, newest last."""

_cel = cel
_Model = Model


# --------------------------------------------------------------------- spec


class WorkloadRef(_Model):
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


class Pause(_Model):
    """Wait: for ``duration`` if given, otherwise until ``landinggear promote``."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    f"!has(self.duration) || self.duration.matches('{DURATION_PATTERN}')",
                    "pause.duration must be a duration such as 30s, 5m or 1h30m",
                    field_path=".duration",
                )
            ]
        }
    )

    duration: str | None = Field(
        default=None,
        max_length=32,
        description="How long to wait (e.g. 30s, 5m, 1h30m); omit to wait for promote.",
    )

    @field_validator("duration")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class Step(_Model):
    """One step of the canary: exactly one action."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "[has(self.setWeight), has(self.pause), has(self.analysis), "
                    "has(self.setHeaderRoute), has(self.setCanaryScale)]"
                    ".filter(x, x).size() == 1",
                    "each step must have exactly one action: setWeight, pause, analysis, "
                    "setHeaderRoute or setCanaryScale",
                )
            ]
        }
    )

    set_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of traffic to send to the new revision (0-100).",
    )
    pause: Pause | None = Field(default=None, description="Wait for a time or for promote.")
    analysis: AnalysisStep | None = Field(
        default=None,
        description="Wait until the analysis' metrics pass (or one fails) at this step.",
    )
    set_header_route: SetHeaderRoute | None = Field(
        default=None,
        description="Route requests with matching headers to the canary (needs trafficRouting).",
    )
    set_canary_scale: SetCanaryScale | None = Field(
        default=None,
        description="Size the canary apart from its weight (needs trafficRouting).",
    )

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = (
            self.set_weight,
            self.pause,
            self.analysis,
            self.set_header_route,
            self.set_canary_scale,
        )
        if sum(a is not None for a in actions) != 1:
            raise ValueError(
                "each step must have exactly one action: setWeight, pause, analysis, "
                "setHeaderRoute or setCanaryScale"
            )
        return self


class CanaryStrategy(_Model):
    """Release the new revision step by step."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.steps) || !self.steps.exists(s, has(s.analysis)) "
                    "|| has(self.analysis)",
                    "analysis steps need spec.strategy.canary.analysis",
                    field_path=".steps",
                ),
                _cel(
                    "!has(self.steps) || !has(self.analysis) || self.steps.all(s, "
                    "!has(s.analysis) || !has(s.analysis.metrics) || s.analysis.metrics.all("
                    "m, self.analysis.metrics.exists(x, x.name == m)))",
                    "analysis steps may only name metrics of spec.strategy.canary.analysis",
                    field_path=".steps",
                ),
                _cel(
                    "!has(self.trafficRouting) || (has(self.trafficRouting.istio) && "
                    "has(self.trafficRouting.istio.destinationRule) && "
                    "!has(self.stableService) && !has(self.canaryService)) || "
                    "(has(self.stableService) && has(self.canaryService) && "
                    "self.stableService != self.canaryService)",
                    "trafficRouting needs stableService and canaryService, two different "
                    "Services (Istio by DestinationRule subsets may name neither)",
                    field_path=".trafficRouting",
                ),
                _cel(
                    "has(self.trafficRouting) || !has(self.steps) || !self.steps.exists(s, "
                    "has(s.setHeaderRoute) || has(s.setCanaryScale))",
                    "setHeaderRoute and setCanaryScale steps need trafficRouting (with replica "
                    "ratio the canary's pods are its traffic)",
                    field_path=".steps",
                ),
                _cel(
                    "!has(self.trafficRouting) || !has(self.trafficRouting.nginx) || "
                    "!has(self.steps) || self.steps.all(s, !has(s.setHeaderRoute) || "
                    "(size(s.setHeaderRoute.match) <= 1 && s.setHeaderRoute.match.all(m, "
                    "!has(m.headerValue.prefix))))",
                    "nginx header routes match one header, by exact value or regex "
                    "(canary-by-header-value / -pattern)",
                    field_path=".steps",
                ),
                _cel(
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
    flag_propagation: str = Field(
        default="15s",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="How long the apps take to see a flag change (their flag SDK's refresh; "
        "Unleash's SDKs poll every 15s by default). After onAnomaly DisableFlags switches "
        "the flags off, the new analysis counts requests from this long later, so requests "
        "served before the apps saw the flags off are not held against the canary.",
    )

    @field_validator("flag_propagation")
    @classmethod
    def _propagation_parses(cls, value: str) -> str:
        parse_duration(value)
        return value

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


class Strategy(_Model):
    """How a new revision is released."""

    canary: CanaryStrategy = Field(description="Canary release in steps.")


class RolloutSpec(_Model):
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


# ------------------------------------------------------------------- status


class Phase(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"


class ConditionType(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    ABORTED = "Aborted"
    FLAGS_PENDING = "FlagsPending"
    """True while a feature flag is not yet confirmed in the state the controller wants."""


class Condition(_Model):
    """A Kubernetes-style condition (``kubectl wait --for=condition=…``)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = ""
    last_transition_time: datetime


class HistoryAction(StrEnum):
    ADOPTED = "Adopted"
    RELEASE_STARTED = "ReleaseStarted"
    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    RETRIED = "Retried"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"
    FLAGS_DISABLED = "FlagsDisabled"
    """onAnomaly DisableFlags: the analysis failed, the flags were switched off and the
    canary is judged again from zero."""
    FLAGS_OFF_BY_HAND = "FlagsOffByHand"
    """A person's ``landinggear flags off``: flags switched off, the release untouched."""
    FLAGS_RESTORED_BY_HAND = "FlagsRestoredByHand"
    """A person's ``landinggear flags restore``: flags that were off put back."""


class HistoryEntry(_Model):
    """Who did what to which revision, when and why."""

    time: datetime
    action: HistoryAction
    revision: str = Field(description="The revision acted on (pod-template hash).")
    previous_revision: str | None = Field(default=None, description="Stable before the action.")
    by: str = Field(description="The user for requested actions, else 'controller'.")
    reason: str = ""


class RolloutStatus(_Model):
    """What the controller observed and did. Everything a restart needs lives here."""

    phase: Phase = Phase.PROGRESSING
    message: str = ""
    observed_generation: int = 0
    current_step_index: int | None = Field(
        default=None, description="Index of the current step; None when no canary runs."
    )
    canary_weight: int = Field(default=0, description="Percent of traffic on the canary.")
    header_routes: list[SetHeaderRoute] = Field(
        default_factory=list,
        max_length=64,
        description="Header routes to the canary the router serves (setHeaderRoute steps).",
    )
    stable_revision: str | None = Field(default=None, description="Pod-template hash of stable.")
    canary_revision: str | None = Field(default=None, description="Pod-template hash of canary.")
    previous_stable_revision: str | None = Field(
        default=None, description="Stable before the last promotion; target of rollback."
    )
    blocked_revision: str | None = Field(
        default=None,
        description="Aborted or rolled-back revision, not released again until the template "
        "changes or the user retries.",
    )
    step_started_at: datetime | None = Field(default=None, description="When the step began.")
    step_unjudged_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Seconds of the current step in which the metrics could not be measured; "
        "its pause or maxDuration runs that much longer.",
    )
    last_progress_at: datetime | None = Field(
        default=None, description="When the canary last made progress (progress deadline)."
    )
    rolling_back_to: str | None = Field(
        default=None, description="Revision a requested rollback is restoring."
    )
    replicas: int = Field(default=0, description="Desired pods.")
    stable_ready_replicas: int = 0
    canary_ready_replicas: int = 0
    handled_requests: dict[str, str] = Field(
        default_factory=dict, description="Per verb, the id of the last request acted on."
    )
    analysis: AnalysisStatus | None = Field(
        default=None, description="Metric analysis of the current canary, if configured."
    )
    feature_flags: list[FlagStatus] = Field(
        default_factory=list,
        max_length=MAX_FLAGS,
        description="Per feature flag the controller switched: wanted and confirmed state, "
        "the previous state, the last error.",
    )
    conditions: list[Condition] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)


class Rollout(_Model):
    """A Rollout as stored: metadata fields the controller uses, spec and status."""

    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    deletion_timestamp: datetime | None = None
    finalizers: tuple[str, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)
    spec: RolloutSpec
    status: RolloutStatus = Field(default_factory=RolloutStatus)

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Rollout:
        """Parse the object as the API server returns it (raises pydantic.ValidationError)."""
        meta = obj.get("metadata", {})
        return cls.model_validate(
            {
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "generation": meta.get("generation", 0),
                "resourceVersion": meta.get("resourceVersion", ""),
                "deletionTimestamp": meta.get("deletionTimestamp"),
                "finalizers": tuple(meta.get("finalizers") or ()),
                "annotations": meta.get("annotations") or {},
                "spec": obj.get("spec", {}),
                "status": obj.get("status") or {},
            }
        )


def status_to_object(status: RolloutStatus) -> dict[str, Any]:
    """The status as the API server stores it (camelCase, RFC 3339 times, no nulls)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)
