"""Which analysis runs for a Rollout now, and which of its looks are due (pure).

The reconciler's analyst asks :func:`target` (the canary's analysis, else an
unfinished guard's) and :func:`plan` (per metric: comparisons every
``interval`` since their last look, threshold rules on their own schedule),
runs the queries, and hands the results to ``decide``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.api.analysis import Analysis, AnalysisStatus, Metric, MetricStatus, Stage, Verdict
from controller.api.v1alpha1 import RolloutStatus
from controller.core import rules
from controller.core.analysis import begin
from controller.judge import threshold


@dataclass(frozen=True, kw_only=True)
class Due:
    """A look due now over ``window`` seconds: since the analysis started (comparisons),
    or the rule's interval (threshold rules)."""

    metric: Metric
    window: int


@dataclass(frozen=True, kw_only=True)
class Target:
    """Whose looks are due: the canary against the stable, or the guarded new stable."""

    stage: Stage
    revision: str
    other: str
    """The stable (canary stage) or the previous revision (guard)."""
    current: AnalysisStatus


def target(spec: Analysis, status: RolloutStatus, *, now: datetime) -> Target | None:
    """The analysis running for ``status``, if any: the canary's, else an unfinished guard."""
    canary, stable = status.canary_revision, status.stable_revision
    if stable is None:
        return None
    if canary is not None:
        current = begin(spec, status.analysis, revision=canary, stage=Stage.CANARY, now=now)
        return Target(stage=Stage.CANARY, revision=canary, other=stable, current=current)
    guard = status.analysis
    if (
        guard is None
        or guard.stage != Stage.GUARD
        or guard.completed
        or guard.revision != stable
        or guard.baseline_revision is None
        or status.rolling_back_to is not None
    ):
        return None
    return Target(stage=Stage.GUARD, revision=stable, other=guard.baseline_revision, current=guard)


def _due_at(
    spec: Analysis, current: AnalysisStatus | None, status: MetricStatus, metric: Metric,
    *, now: datetime,
) -> datetime | None:  # fmt: skip
    """When ``metric``'s next look is due (None: it needs no more)."""
    if metric.threshold is not None:
        tally = rules.tally(current or AnalysisStatus(revision=""), status, now)
        return threshold.next_measurement(rules.rule(spec, metric), tally)
    if status.verdict == Verdict.FAIL or (current is not None and current.completed):
        return None
    started = (current.started_at if current else None) or now
    return (status.measured_at or started) + rules.interval(spec, metric)


def plan(spec: Analysis, current: AnalysisStatus | None, *, now: datetime) -> list[Due]:
    """The looks due at ``now`` for the analysis ``current`` (all of them when it is new)."""
    statuses = {m.name: m for m in current.metrics} if current is not None else {}
    due: list[Due] = []
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        when = _due_at(spec, current, status, metric, now=now)
        if when is None or now < when:
            continue
        if metric.threshold is not None:
            due.append(Due(metric=metric, window=_seconds(rules.interval(spec, metric))))
        else:
            started = (current.started_at if current else None) or now
            due.append(Due(metric=metric, window=_seconds(now - started)))
    return due


def overdue(spec: Analysis, current: AnalysisStatus | None, *, now: datetime) -> str:
    """Metrics with a look due whose last look is two intervals old or more, in words
    ("" if none): no controller was looking (none led, or it was busy). A pause's end,
    the promotion and the guard's end wait for them, so that they are judged on what
    the revisions served until now. (A threshold rule behind its schedule is not
    overdue by itself: its looks catch up back to back, each over its own window.)"""
    statuses = {m.name: m for m in current.metrics} if current is not None else {}
    started = (current.started_at if current is not None else None) or now
    late = []
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        when = _due_at(spec, current, status, metric, now=now)
        last = status.measured_at or started
        if when is not None and when <= now and last + 2 * rules.interval(spec, metric) <= now:
            late.append(f"{metric.name}: last look {(now - last).total_seconds():.0f}s ago")
    return "; ".join(late)


def _seconds(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds()))
