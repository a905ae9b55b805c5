"""Folding metric measurements into the analysis status, and what it means for the step.

The I/O layer measures (Prometheus) and hands the results in; this module only
updates the judges' states — kept in ``status.analysis`` so a restarted
controller continues the same sequential tests — and says whether the release
may go on, must hold, or must abort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from controller.api.analysis import Analysis, AnalysisStatus, MetricStatus
from controller.api.base import parse_duration
from controller.judge import sequential
from controller.judge.sequential import Window


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One metric's counts over the window since the last look, or why it failed."""

    metric: str
    window: Window | None = None
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class Measurements:
    """All metrics of one look at ``revision`` (the canary), taken at ``at``."""

    revision: str
    at: datetime
    results: tuple[Measurement, ...]


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: AnalysisStatus
    failed: str = ""
    """Why the canary is judged worse (empty: it is not)."""
    holding: str = ""
    """Why the release must hold (metrics cannot be measured)."""
    next_look: datetime | None = None


def _config(spec: Analysis) -> sequential.Config:
    # Several metrics share alpha (Bonferroni): the release's false-rollback rate stays alpha.
    return sequential.Config(
        alpha=spec.alpha / len(spec.metrics), beta=spec.beta, min_ratio=spec.min_ratio
    )


def _state(metric: MetricStatus) -> sequential.State:
    return sequential.State(
        log_lr=tuple(metric.log_lr),
        pass_log_lr=metric.pass_log_lr,
        canary_requests=metric.canary_requests,
        canary_bad=metric.canary_bad,
        stable_requests=metric.stable_requests,
        stable_bad=metric.stable_bad,
        verdict=sequential.Verdict(metric.verdict),
    )


def _fold(metric: MetricStatus, result: Measurement, config: sequential.Config) -> MetricStatus:
    if result.window is None or not _finite(result.window):
        why = result.error or "measurement returned NaN"
        return metric.model_copy(
            update={"consecutive_errors": metric.consecutive_errors + 1, "last_error": why[:512]}
        )
    state = sequential.update(_state(metric), result.window, config)
    return metric.model_copy(
        update={
            "verdict": state.verdict.value,
            "canary_requests": state.canary_requests,
            "canary_bad": state.canary_bad,
            "stable_requests": state.stable_requests,
            "stable_bad": state.stable_bad,
            "log_lr": list(state.log_lr),
            "pass_log_lr": state.pass_log_lr,
            "evidence": round(sequential.evidence(state), 6),
            "more_canary_requests_needed": sequential.more_canary_requests_needed(state, config),
            "consecutive_errors": 0,
            "last_error": "",
        }
    )


def _finite(window: Window) -> bool:
    values = (window.canary_requests, window.canary_bad, window.stable_requests, window.stable_bad)
    return all(math.isfinite(v) and v >= 0 for v in values)


def analyse(
    spec: Analysis,
    current: AnalysisStatus | None,
    *,
    revision: str,
    measurements: Measurements | None,
    now: datetime,
) -> Outcome:
    """The analysis of ``revision`` after folding in ``measurements`` (if they are its)."""
    if current is None or current.revision != revision:
        current = AnalysisStatus(
            revision=revision, metrics=[MetricStatus(name=m.name) for m in spec.metrics]
        )
    config = _config(spec)
    if measurements is not None and measurements.revision == revision:
        by_name = {r.metric: r for r in measurements.results}
        metrics = [
            _fold(m, by_name[m.name], config) if m.name in by_name else m for m in current.metrics
        ]
        current = current.model_copy(
            update={"metrics": metrics, "last_measured_at": measurements.at}
        )
    failed = [m for m in current.metrics if m.verdict == "Fail"]
    broken = [m for m in current.metrics if m.consecutive_errors > spec.max_consecutive_errors]
    interval = parse_duration(spec.interval)
    next_look = (current.last_measured_at or now) + interval
    if failed:
        return Outcome(status=current, failed="; ".join(_evidence(m) for m in failed))
    holding = "; ".join(
        f"{m.name}: {m.consecutive_errors} measurements failed in a row ({m.last_error})"
        for m in broken
    )
    return Outcome(status=current, holding=holding, next_look=next_look)


def _evidence(metric: MetricStatus) -> str:
    canary = metric.canary_bad / metric.canary_requests if metric.canary_requests else 0.0
    stable = metric.stable_bad / metric.stable_requests if metric.stable_requests else 0.0
    return (
        f"{metric.name}: canary {metric.canary_bad:.0f}/{metric.canary_requests:.0f} bad "
        f"({canary:.2%}) vs stable {metric.stable_bad:.0f}/{metric.stable_requests:.0f} "
        f"({stable:.2%}), likelihood ratio {metric.evidence:.3g}"
    )


def due(spec: Analysis, current: AnalysisStatus | None, *, revision: str, now: datetime) -> bool:
    """Whether a look at ``revision`` is due at ``now``."""
    if current is None or current.revision != revision or current.last_measured_at is None:
        return True
    return now >= current.last_measured_at + parse_duration(spec.interval)
