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


def plan(spec: Analysis, current: AnalysisStatus | None, *, now: datetime) -> list[Due]:
    """The looks due at ``now`` for the analysis ``current`` (all of them when it is new)."""
    statuses = {m.name: m for m in current.metrics} if current is not None else {}
    due: list[Due] = []
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        every = rules.interval(spec, metric)
        if metric.threshold is not None:
            tally = rules.tally(current or AnalysisStatus(revision=""), status, now)
            when = threshold.next_measurement(rules.rule(spec, metric), tally)
            if when is not None and now >= when:
                due.append(Due(metric=metric, window=_seconds(every)))
            continue
        if status.verdict == Verdict.FAIL or (current is not None and current.completed):
            continue
        started = (current.started_at if current else None) or now
        if now >= (status.measured_at or started) + every:
            due.append(Due(metric=metric, window=_seconds(now - started)))
    return due


def _seconds(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds()))
