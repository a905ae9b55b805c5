"""``spec.strategy.canary.analysis`` and ``status.analysis``: judging a release on metrics.

Each metric is one of two kinds:

* a **comparison** (``builtin``): every ``interval`` the controller counts each
  revision's requests and bad requests (errors, or slower than a bound) in
  Prometheus and feeds them to the sequential judge
  (:mod:`controller.judge.sequential`), canary against stable on the same windows;
* a **threshold** rule (``threshold``): a PromQL query whose single value is
  checked against success / failure conditions, counted as Argo Rollouts and
  Flagger count (:mod:`controller.judge.threshold`).

The analysis runs in the background from the first canary step to promotion; a
failing metric aborts in the same reconcile. ``analysis`` steps make one step
wait for a verdict. After promotion, an optional ``guard`` keeps judging the new
stable against the previous revision's measured baseline and rolls back on
failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from controller.api.base import Duration, Model, SecondOrLonger, cel
from controller.api.flags import SecretKeyRef
from controller.api.wire import Stage, Verdict

Builtin = Literal[
    "app-errors",
    "app-latency",
    "istio-errors",
    "istio-latency",
    "linkerd-errors",
    "linkerd-latency",
    "nginx-errors",
    "nginx-latency",
    "envoy-errors",
    "envoy-latency",
]
NoData = Literal["fail", "inconclusive", "ignore"]
OnError = Literal["fail", "inconclusive"]

CONDITION_PATTERN = (
    r"^\s*(<=|>=|==|!=|<|>)\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?\s*$"
)
"""A threshold condition: an operator and a number, e.g. ``< 0.05`` or ``>= 99``."""

_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class PrometheusRef(Model):
    """Where to query; the controller's ``--prometheus-address`` when omitted."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.bearerTokenSecret) || has(self.address)",
                    "bearerTokenSecret needs an address (the default Prometheus uses the "
                    "controller's own credentials)",
                )
            ]
        }
    )

    address: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090; it "
        "must be under one of the controller's --prometheus-endpoint prefixes (or be its "
        "--prometheus-address).",
    )
    bearer_token_secret: SecretKeyRef | None = Field(
        default=None,
        description="A bearer token for address, from a Secret in the Rollout's namespace "
        "that the controller is allowed to read (a Role the namespace's owner creates).",
    )


class ThresholdRule(Model):
    """A query's value against fixed conditions (Argo Rollouts / Flagger parity)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.success) || has(self.failure)",
                    "a threshold rule needs a success or a failure condition",
                )
            ]
        }
    )

    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one value. ${canary}, ${stable}, ${namespace}, "
        "${rollout}, ${service} go inside double quotes; ${window} (the interval) bare.",
    )
    success: str | None = Field(
        default=None,
        max_length=64,
        pattern=CONDITION_PATTERN,
        description="A measurement succeeds when the value satisfies this, e.g. '< 0.05'.",
    )
    failure: str | None = Field(
        default=None,
        max_length=64,
        pattern=CONDITION_PATTERN,
        description="A measurement fails when the value satisfies this, e.g. '>= 0.1'.",
    )
    interval: SecondOrLonger | None = Field(
        default=None,
        description="Time between measurements (at least 1s); the analysis' interval when omitted.",
    )
    initial_delay: Duration | None = Field(
        default=None,
        description="Wait this long after the canary starts before the first measurement.",
    )
    count: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Measurements to take; omitted: measure until the release ends.",
    )
    failure_limit: int = Field(
        default=0, ge=0, le=1000, description="Failed measurements tolerated (more fail)."
    )
    inconclusive_limit: int = Field(
        default=0, ge=0, le=1000, description="Inconclusive measurements tolerated."
    )
    consecutive_error_limit: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="Query errors in a row tolerated; the analysis' maxConsecutiveErrors "
        "when omitted.",
    )


class Metric(Model):
    """One metric: a builtin canary-vs-stable comparison, or a threshold rule."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.builtin) != has(self.threshold)",
                    "a metric needs exactly one of builtin or threshold",
                ),
                cel(
                    "!has(self.builtin) || !self.builtin.endsWith('-latency') "
                    "|| has(self.latencyBoundSeconds)",
                    "latency builtins need latencyBoundSeconds (a histogram bucket bound)",
                ),
                cel(
                    "!has(self.builtin) || !self.builtin.startsWith('nginx-') || has(self.ingress)",
                    "nginx builtins need ingress (the main Ingress' name)",
                ),
                cel(
                    "!has(self.builtin) || !self.builtin.startsWith('envoy-') "
                    "|| (has(self.canaryCluster) && has(self.stableCluster))",
                    "envoy builtins need canaryCluster and stableCluster",
                ),
            ]
        }
    )

    name: str = Field(
        min_length=1, max_length=63, pattern=_NAME_PATTERN, description="Name shown in the status."
    )
    builtin: Builtin | None = Field(
        default=None,
        description="Compare canary with stable on counts: *-errors count 5xx responses, "
        "*-latency requests slower than latencyBoundSeconds. app: the app's own "
        "http_requests_total / http_request_duration_seconds; istio (by the pods' "
        "service.istio.io/canonical-revision, which the controller sets to the revision "
        "unless the template sets it), linkerd, nginx (ingress-nginx), envoy (Contour, "
        "Envoy Gateway and other Gateway API data planes).",
    )
    threshold: ThresholdRule | None = Field(
        default=None, description="Judge a query's value against conditions instead."
    )
    latency_bound_seconds: float | None = Field(
        default=None, gt=0, le=3600, description="Latency bound (one of the histogram's buckets)."
    )
    revision_label: str | None = Field(
        default=None,
        max_length=128,
        description="Label carrying the pod-template hash: app 'revision', linkerd "
        "'landinggear_dev_pod_template_hash' by default.",
    )
    namespace_label: str = Field(
        default="namespace", max_length=128, description="Label carrying the namespace."
    )
    ingress: str | None = Field(
        default=None, max_length=253, description="nginx: the main Ingress' name."
    )
    canary_cluster: str | None = Field(
        default=None, max_length=512, description="envoy: RE2 pattern of the canary's cluster."
    )
    stable_cluster: str | None = Field(
        default=None, max_length=512, description="envoy: RE2 pattern of the stable's cluster."
    )
    prometheus: PrometheusRef | None = Field(
        default=None, description="Query another Prometheus for this metric."
    )
    no_data: NoData = Field(
        default="inconclusive",
        description="When there is nothing to judge (no series, NaN, or a canary that "
        "served no requests): fail aborts, inconclusive holds (never promotes), ignore "
        "goes on as if it passed.",
    )


class Guard(Model):
    """After promotion, keep judging the new stable; roll back on failure."""

    duration: SecondOrLonger = Field(
        description="How long to judge the new stable against the previous revision's "
        "baseline after promotion (at least 1s).",
    )


class Analysis(Model):
    """Background analysis from the first canary step to promotion, and the guard after it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.metrics.all(m, self.metrics.exists_one(x, x.name == m.name))",
                    "metric names must be unique",
                    field_path=".metrics",
                )
            ]
        }
    )

    prometheus: PrometheusRef = Field(default_factory=PrometheusRef)
    interval: SecondOrLonger = Field(
        default="10s",
        description="How often to measure (at least 1s); each measurement covers the time "
        "since the last.",
    )
    alpha: float = Field(
        default=0.01, gt=0, lt=0.5, description="False-rollback rate, shared by all metrics."
    )
    beta: float = Field(
        default=0.1, gt=0, lt=0.5, description="Chance of passing a min-ratio-times-worse canary."
    )
    min_ratio: float = Field(
        default=1.5,
        gt=1,
        le=100,
        description="Smallest regression worth catching: canary bad rate / stable bad rate.",
    )
    max_consecutive_errors: int = Field(
        default=4,
        ge=0,
        le=100,
        description="Failed measurements in a row (Prometheus down) tolerated per metric.",
    )
    on_error: OnError = Field(
        default="inconclusive",
        description="Beyond maxConsecutiveErrors: inconclusive holds the release (never "
        "promotes), fail aborts it.",
    )
    guard: Guard | None = Field(default=None, description="Judge the new stable after promotion.")
    metrics: list[Metric] = Field(min_length=1, max_length=10)

    @field_validator("metrics")
    @classmethod
    def _unique(cls, metrics: list[Metric]) -> list[Metric]:
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise ValueError("metric names must be unique")
        return metrics


class AnalysisStep(Model):
    """A step that waits until the named metrics pass (or one fails)."""

    metrics: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Names of analysis metrics to wait for; all when empty.",
    )
    max_duration: SecondOrLonger = Field(
        default="10m",
        description="Give up waiting after this long (at least 1s): the release holds as "
        "inconclusive.",
    )


class MetricStatus(Model):
    """One metric's judgement so far, and the evidence behind it."""

    name: str
    verdict: Verdict = Verdict.UNDECIDED
    measured_at: datetime | None = Field(default=None, description="Time of the last look.")
    # comparison
    canary_requests: float = 0
    canary_bad: float = 0
    stable_requests: float = 0
    stable_bad: float = 0
    evidence: float = Field(
        default=1.0, description="Likelihood ratio for 'the canary is worse' (1/alpha fails)."
    )
    more_canary_requests_needed: int | None = Field(
        default=None, description="Rough canary requests still needed for a decision."
    )
    log_lr: list[float] = Field(default_factory=list, max_length=64)
    pass_log_lr: float = 0.0
    # threshold
    value: float | None = Field(default=None, description="Latest value of a threshold query.")
    measurements: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    # both
    consecutive_errors: int = 0
    last_error: str = ""
    reason: str = Field(default="", description="Why the verdict is Fail or Inconclusive.")


class AnalysisStatus(Model):
    """The analysis of ``revision``: the canary, or during the guard the new stable."""

    revision: str
    stage: Stage = Stage.CANARY
    baseline_revision: str | None = Field(
        default=None, description="Guard: the previous stable whose baseline is compared."
    )
    started_at: datetime | None = None
    ends_at: datetime | None = Field(default=None, description="Guard: when it ends.")
    completed: bool = Field(default=False, description="Guard: ended without a failure.")
    overridden_by: str | None = Field(
        default=None, description="Who promoted past an inconclusive analysis."
    )
    flags_off_at: datetime | None = Field(
        default=None,
        description="onAnomaly DisableFlags: this analysis started over at this time with "
        "the feature flags switched off; another failure aborts.",
    )
    last_measured_at: datetime | None = None
    unjudged_since: datetime | None = Field(
        default=None,
        description="Since when a metric's measurements fail (Prometheus down): that time "
        "does not count toward a pause, an analysis step's maxDuration or the guard.",
    )
    metrics: list[MetricStatus] = Field(default_factory=list, max_length=10)


__all__ = [
    "CONDITION_PATTERN",
    "Analysis",
    "AnalysisStatus",
    "AnalysisStep",
    "Guard",
    "Metric",
    "MetricStatus",
    "PrometheusRef",
    "Stage",
    "ThresholdRule",
    "Verdict",
]
