"""A metric's settings as the judges take them: look interval, threshold rule, tally.

The spec leaves settings to the analysis' defaults (``interval``,
``maxConsecutiveErrors``, ``onError``); these functions fill them in, and map a
threshold metric's status to and from :mod:`controller.judge.threshold`'s tally.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.api.analysis import Analysis, AnalysisStatus, Metric, MetricStatus, Verdict
from controller.api.wire import parse_duration
from controller.core.measurements import UNMEASURABLE
from controller.judge import sequential, threshold


def interval(spec: Analysis, metric: Metric) -> timedelta:
    """Time between a metric's looks: its own (threshold rules) or the analysis'."""
    if metric.threshold is not None and metric.threshold.interval:
        return parse_duration(metric.threshold.interval)
    return parse_duration(spec.interval)


def comparison_config(spec: Analysis) -> sequential.Config:
    """The sequential judge's settings; several metrics share alpha (Bonferroni),
    so the release's false-rollback rate stays alpha."""
    alpha = spec.alpha / len(spec.metrics)
    return sequential.Config(alpha=alpha, beta=spec.beta, min_ratio=spec.min_ratio)


def rule(spec: Analysis, metric: Metric) -> threshold.Rule:
    """The threshold rule of a ``threshold`` metric, defaults filled from the analysis."""
    t = metric.threshold
    if t is None:
        raise ValueError(f"metric {metric.name} is not a threshold rule")
    limit = t.consecutive_error_limit
    return threshold.Rule(
        success=threshold.Condition.parse(t.success) if t.success else None,
        failure=threshold.Condition.parse(t.failure) if t.failure else None,
        interval=interval(spec, metric),
        initial_delay=parse_duration(t.initial_delay) if t.initial_delay else timedelta(0),
        count=t.count,
        failure_limit=t.failure_limit,
        inconclusive_limit=t.inconclusive_limit,
        consecutive_error_limit=spec.max_consecutive_errors if limit is None else limit,
        no_data=threshold.NoDataPolicy(metric.no_data),
        on_error=threshold.ErrorPolicy(spec.on_error),
    )


def error_limit(spec: Analysis, metric: Metric) -> int:
    """Failed looks in a row a metric tolerates before ``onError`` applies."""
    if metric.threshold is not None and metric.threshold.consecutive_error_limit is not None:
        return metric.threshold.consecutive_error_limit
    return spec.max_consecutive_errors


PHASE_VERDICT = {
    threshold.Phase.RUNNING: Verdict.UNDECIDED,
    threshold.Phase.SUCCESSFUL: Verdict.PASS,
    threshold.Phase.FAILED: Verdict.FAIL,
    threshold.Phase.INCONCLUSIVE: Verdict.INCONCLUSIVE,
}
_VERDICT_PHASE = {v: k for k, v in PHASE_VERDICT.items()}


def tally(status: AnalysisStatus, metric: MetricStatus, now: datetime) -> threshold.Tally:
    """A threshold metric's counts so far, as the threshold judge keeps them."""
    return threshold.Tally(
        started_at=status.started_at or now,
        measurements=metric.measurements,
        successful=metric.successful,
        failed=metric.failed,
        inconclusive=metric.inconclusive,
        errors=metric.errors,
        consecutive_errors=metric.consecutive_errors,
        last_value=metric.value,
        # a metric that cannot be measured is not done: its looks go on until it can
        phase=threshold.Phase.RUNNING
        if metric.reason.startswith(UNMEASURABLE)
        else _VERDICT_PHASE[metric.verdict],
    )
