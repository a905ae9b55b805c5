"""Taking the analysis' measurements: Prometheus counts for canary and stable.

When a look is due (:func:`controller.core.analysis.due`), each metric's builtin
template is run for both revisions over the time since the last look. A query
that matches nothing means no requests (a canary without traffic is never judged
bad); a failed query is reported as an error, which the core counts towards
holding the release — never towards a success.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from controller.api.analysis import Analysis, MetricComparison
from controller.api.v1alpha1 import Rollout
from controller.core import analysis
from controller.judge.sequential import Window
from controller.providers import MetricProvider, ProviderError
from controller.providers.builtin_metrics import app_errors, app_latency
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_config import PrometheusConfig
from controller.providers.templates import Counts, MetricTemplate, Role, Variables, counts

log = structlog.get_logger("landinggear.analysis")


def template(metric: MetricComparison) -> MetricTemplate:
    if metric.builtin == "app-latency":
        assert metric.latency_bound_seconds is not None  # the CRD's CEL rule ensures it
        return app_latency(
            bound_seconds=metric.latency_bound_seconds,
            revision_label=metric.revision_label,
            namespace_label=metric.namespace_label,
        )
    return app_errors(revision_label=metric.revision_label, namespace_label=metric.namespace_label)


class Analyst:
    """Measures for the reconciler; one provider per Prometheus address."""

    def __init__(self, *, default_address: str | None) -> None:
        self.default_address = default_address
        self._providers: dict[str, MetricProvider] = {}

    def provider(self, spec: Analysis) -> MetricProvider | None:
        address = spec.prometheus.address or self.default_address
        if address is None:
            return None
        if address not in self._providers:
            self._providers[address] = PrometheusProvider(
                PrometheusConfig.model_validate({"address": address})
            )
        return self._providers[address]

    def measure(self, rollout: Rollout, now: datetime) -> analysis.Measurements | None:
        """The look due at ``now`` for the running canary, or None if none is due."""
        spec = rollout.spec.strategy.canary.analysis
        status = rollout.status
        canary, stable = status.canary_revision, status.stable_revision
        if spec is None or canary is None or stable is None:
            return None
        if not analysis.due(spec, status.analysis, revision=canary, now=now):
            return None
        last = status.analysis.last_measured_at if status.analysis else None
        seconds = max(1, round((now - last).total_seconds())) if last else 10
        variables = Variables(
            rollout=rollout.name,
            namespace=rollout.namespace,
            service=rollout.spec.workload_ref.name,
            canary=canary,
            stable=stable,
            window=f"{seconds}s",
        )
        provider = self.provider(spec)
        results = tuple(
            _measure(provider, metric, variables, now, first=last is None)
            for metric in spec.metrics
        )
        return analysis.Measurements(revision=canary, at=now, results=results)


def _measure(
    provider: MetricProvider | None,
    metric: MetricComparison,
    variables: Variables,
    now: datetime,
    *,
    first: bool,
) -> analysis.Measurement:
    if provider is None:
        return analysis.Measurement(
            metric=metric.name,
            error="no Prometheus address: set analysis.prometheus.address or --prometheus-address",
        )
    if first:
        # The first look only starts the clock: its window would reach back before
        # the canary existed. Counting starts from here.
        return analysis.Measurement(metric=metric.name, window=_EMPTY)
    try:
        found: dict[Role, Any] = {
            role: counts(provider, template(metric), variables, role, at=now) for role in Role
        }
    except ProviderError as err:
        log.warning("Measurement failed", metric=metric.name, error=str(err))
        return analysis.Measurement(metric=metric.name, error=str(err))
    canary, stable = (_pair(found[Role.CANARY]), _pair(found[Role.STABLE]))
    return analysis.Measurement(
        metric=metric.name,
        window=Window(
            canary_requests=canary[0],
            canary_bad=canary[1],
            stable_requests=stable[0],
            stable_bad=stable[1],
        ),
    )


_EMPTY = Window(canary_requests=0, canary_bad=0, stable_requests=0, stable_bad=0)


def _pair(found: object) -> tuple[float, float]:
    if isinstance(found, Counts):
        return found.requests, found.bad
    return 0.0, 0.0  # no series: no requests in the window
