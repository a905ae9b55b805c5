"""Taking the analysis' measurements in Prometheus: counts for comparisons, values for rules.

The core says which looks are due (:func:`controller.core.looks.plan`); this
module runs their queries and hands the results back:

* a comparison (``builtin``) counts each revision's requests and bad requests
  since the analysis started (the core takes the part that is new, so a missed
  scrape delays counts but never loses them). A query that matches nothing means no
  requests (a canary without traffic is never judged bad: the ``noData`` policy
  settles it at the next gate). During the guard only the new stable is counted;
  its baseline was measured while it was the canary;
* a threshold rule renders its query (``${window}`` = its interval) and expects
  one value; nothing or NaN is "no data", several series an error.

A failed query is an error, which the core counts towards holding (or, with
``onError: fail``, aborting) the release — never towards a success. A query
that cannot be built (a bad template, a bad label name) makes the metric
inconclusive at once: nothing can be measured until the Rollout is fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import structlog

from controller.api.analysis import Analysis, Metric, Stage
from controller.api.v1alpha1 import Rollout
from controller.core import looks
from controller.core.measurements import Measurement, Measurements
from controller.judge.sequential import Window
from controller.providers import MetricProvider, ProviderConfigError, ProviderError
from controller.providers import builtin_metrics as builtins
from controller.providers.prometheus import PrometheusProvider
from controller.providers.prometheus_config import PrometheusConfig, PrometheusOverride, resolve
from controller.providers.templates import (
    Counts,
    MetricTemplate,
    QueryTemplate,
    Role,
    TemplateError,
    Variables,
    counts,
)

log = structlog.get_logger("landinggear.analysis")


_BUILTINS: dict[str, Callable[[Metric, float], MetricTemplate]] = {
    "app-errors": lambda m, _: builtins.app_errors(
        revision_label=m.revision_label or "revision", namespace_label=m.namespace_label
    ),
    "app-latency": lambda m, bound: builtins.app_latency(
        bound_seconds=bound,
        revision_label=m.revision_label or "revision",
        namespace_label=m.namespace_label,
    ),
    "istio-errors": lambda m, _: builtins.istio_errors(),
    "istio-latency": lambda m, bound: builtins.istio_latency(bound_ms=bound * 1000),
    "linkerd-errors": lambda m, _: builtins.linkerd_errors(
        revision_label=m.revision_label or builtins.SCRAPED_REVISION_LABEL
    ),
    "linkerd-latency": lambda m, bound: builtins.linkerd_latency(
        bound_ms=bound * 1000, revision_label=m.revision_label or builtins.SCRAPED_REVISION_LABEL
    ),
    "nginx-errors": lambda m, _: builtins.nginx_errors(
        ingress=m.ingress or "", namespace_label=m.namespace_label
    ),
    "nginx-latency": lambda m, bound: builtins.nginx_latency(
        ingress=m.ingress or "", bound_seconds=bound, namespace_label=m.namespace_label
    ),
    "envoy-errors": lambda m, _: builtins.envoy_errors(
        canary_cluster=m.canary_cluster or "", stable_cluster=m.stable_cluster or ""
    ),
    "envoy-latency": lambda m, bound: builtins.envoy_latency(
        canary_cluster=m.canary_cluster or "",
        stable_cluster=m.stable_cluster or "",
        bound_ms=bound * 1000,
    ),
}


def template(metric: Metric) -> MetricTemplate:
    """The counting queries of a ``builtin`` metric (raises TemplateError on bad names).

    ``latencyBoundSeconds`` is in seconds for every builtin; the Istio, Linkerd and
    Envoy histograms count milliseconds, so it is converted for them.
    """
    make = _BUILTINS.get(metric.builtin or "")
    if make is None:
        raise TemplateError(f"metric {metric.name!r} has no builtin")
    return make(metric, metric.latency_bound_seconds or 0.0)


class Analyst:
    """Measures for the reconciler; one provider per Prometheus configuration."""

    def __init__(
        self,
        *,
        default: PrometheusConfig | None,
        connect: Callable[[PrometheusConfig], MetricProvider] = PrometheusProvider,
    ) -> None:
        self.default = default
        self.connect = connect
        self._providers: dict[str, MetricProvider] = {}

    def provider(self, spec: Analysis, metric: Metric) -> MetricProvider:
        """The provider for ``metric`` (raises ProviderConfigError without an address)."""
        address = (metric.prometheus and metric.prometheus.address) or spec.prometheus.address
        override = PrometheusOverride(address=address) if address else None
        config = resolve(self.default, override)
        key = config.model_dump_json()
        if key not in self._providers:
            self._providers[key] = self.connect(config)
        return self._providers[key]

    def measure(self, rollout: Rollout, now: datetime) -> Measurements | None:
        """The looks due at ``now`` (canary, or post-promotion guard), or None if none is."""
        spec = rollout.spec.strategy.canary.analysis
        if spec is None:
            return None
        target = looks.target(spec, rollout.status, now=now)
        if target is None:
            return None
        due = looks.plan(spec, target.current, now=now)
        if not due:
            return None
        results = tuple(self._look(rollout, spec, target, d, now) for d in due)
        return Measurements(revision=target.revision, at=now, results=results, stage=target.stage)

    def _look(
        self,
        rollout: Rollout,
        spec: Analysis,
        target: looks.Target,
        due: looks.Due,
        now: datetime,
    ) -> Measurement:
        metric = due.metric
        variables = Variables(
            rollout=rollout.name,
            namespace=rollout.namespace,
            service=rollout.spec.workload_ref.name,
            canary=target.revision,
            stable=target.other,
            window=f"{due.window}s",
        )
        try:
            provider = self.provider(spec, metric)
            if metric.threshold is not None:
                query = QueryTemplate(metric.threshold.query)
                return _value(provider, metric, query, variables, now)
            queries = template(metric)
            return _counts(provider, metric, queries, variables, now=now, stage=target.stage)
        except (TemplateError, ProviderConfigError) as err:
            return Measurement(metric=metric.name, invalid=str(err))
        except ProviderError as err:
            log.warning("Measurement failed", metric=metric.name, error=str(err))
            return Measurement(metric=metric.name, error=str(err))


def _counts(
    provider: MetricProvider,
    metric: Metric,
    queries: MetricTemplate,
    variables: Variables,
    *,
    now: datetime,
    stage: Stage,
) -> Measurement:
    roles = (Role.CANARY,) if stage == Stage.GUARD else (Role.CANARY, Role.STABLE)
    found = {role: counts(provider, queries, variables, role, at=now) for role in roles}
    canary = _pair(found.get(Role.CANARY))
    stable = _pair(found.get(Role.STABLE))
    return Measurement(
        metric=metric.name,
        window=Window(
            canary_requests=canary[0],
            canary_bad=canary[1],
            stable_requests=stable[0],
            stable_bad=stable[1],
        ),
    )


def _pair(found: object) -> tuple[float, float]:
    if isinstance(found, Counts):
        return found.requests, found.bad
    return 0.0, 0.0  # no series: no requests in the window


def _value(
    provider: MetricProvider,
    metric: Metric,
    query: QueryTemplate,
    variables: Variables,
    now: datetime,
) -> Measurement:
    text = query.render(variables.for_role(Role.CANARY))
    samples = provider.query(text, at=now)
    if len(samples) > 1:
        return Measurement(
            metric=metric.name,
            error=f"the query returned {len(samples)} series; aggregate them to one value "
            "(e.g. sum(...))",
        )
    if not samples or math.isnan(samples[0].value):
        return Measurement(metric=metric.name)  # no data
    return Measurement(metric=metric.name, value=samples[0].value)
