"""``spec.strategy.canary.analysis`` and ``status.analysis``: canary vs stable on metrics.

While a canary runs, every ``interval`` the controller asks Prometheus how many
requests each revision served and how many of them were bad (errors, or slower
than a bound), and feeds the counts to the sequential judge
(:mod:`controller.judge.sequential`). A metric that fails aborts the release in
the same reconcile; one that cannot be measured for too long holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from controller.api.base import DURATION_PATTERN, Model, cel

Builtin = Literal["app-errors", "app-latency"]


class PrometheusRef(Model):
    """Where to query; the controller's ``--prometheus-address`` when omitted."""

    address: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090.",
    )


class MetricComparison(Model):
    """One metric, judged canary against stable on bad-event counts."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.builtin != 'app-latency' || has(self.latencyBoundSeconds)",
                    "app-latency needs latencyBoundSeconds (a histogram bucket bound)",
                )
            ]
        }
    )

    name: str = Field(
        min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Name shown in the status.",
    )  # fmt: skip
    builtin: Builtin = Field(
        description="app-errors: http_requests_total with code=~'5..'; app-latency: "
        "http_request_duration_seconds slower than latencyBoundSeconds."
    )
    latency_bound_seconds: float | None = Field(
        default=None, gt=0, le=3600, description="Latency bound (one of the histogram's buckets)."
    )
    revision_label: str = Field(
        default="revision",
        max_length=128,
        description="Label carrying the pod-template hash on the app's series.",
    )
    namespace_label: str = Field(
        default="namespace", max_length=128, description="Label carrying the namespace."
    )


class Analysis(Model):
    """Background analysis from the first canary step to promotion."""

    prometheus: PrometheusRef = Field(default_factory=PrometheusRef)
    interval: str = Field(
        default="10s",
        max_length=32,
        pattern=DURATION_PATTERN,
        description="How often to measure; each measurement covers the time since the last.",
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
        description="Failed measurements in a row (Prometheus down) before the release holds.",
    )
    metrics: list[MetricComparison] = Field(min_length=1, max_length=10)


Verdict = Literal["Undecided", "Pass", "Fail"]


class MetricStatus(Model):
    """One metric's judgement so far, and the evidence behind it."""

    name: str
    verdict: Verdict = "Undecided"
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
    consecutive_errors: int = 0
    last_error: str = ""
    log_lr: list[float] = Field(default_factory=list, max_length=64)
    pass_log_lr: float = 0.0


class AnalysisStatus(Model):
    """The analysis of the canary revision ``revision``."""

    revision: str
    last_measured_at: datetime | None = None
    metrics: list[MetricStatus] = Field(default_factory=list, max_length=10)


__all__ = [
    "Analysis",
    "AnalysisStatus",
    "MetricComparison",
    "MetricStatus",
    "PrometheusRef",
]
