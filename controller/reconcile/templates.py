"""The counting queries of each ``builtin`` metric, from its spec (the analyst's templates)."""

from __future__ import annotations

from collections.abc import Callable

from controller.api.analysis import Metric
from controller.providers import builtin_metrics as builtins
from controller.providers.counters import MetricTemplate
from controller.providers.templates import TemplateError

__all__ = ["template"]

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
