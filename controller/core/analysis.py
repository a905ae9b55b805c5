"""The analysis status of a release, and what the latest looks say about it (pure).

The I/O layer measures (Prometheus) and hands the results in; :func:`analyse`
folds them into ``status.analysis`` — kept there so a restarted controller
continues the same tests — and answers whether a metric failed, whether the
release must hold, and when the next look is due. Which looks are due is
:mod:`controller.core.looks`; whether an ``analysis`` step or the promotion may
pass is :mod:`controller.core.gates`.

Two stages share the code: ``Canary`` (the canary against the concurrent stable,
sequential test :mod:`controller.judge.sequential`) and ``Guard`` (after
promotion, the new stable against the previous revision's baseline,
:mod:`controller.judge.baseline`). Threshold metrics are counted as in
:mod:`controller.judge.threshold` in both.

No data, per metric (``noData``): a threshold query that returns nothing or NaN
is classified by the threshold rules; a comparison has no data while the canary
(or the stable) has served no requests at all. That is never a failure by
itself: it is settled at a gate — an ``analysis`` step that ran out of time, the
promotion, the end of the guard — where ``fail`` aborts, ``inconclusive`` holds
and ``ignore`` lets the release go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.api.analysis import (
    Analysis,
    AnalysisStatus,
    MetricStatus,
    Stage,
    Verdict,
)
from controller.api.wire import parse_duration
from controller.core import rules
from controller.core.folding import fold
from controller.core.measurements import UNMEASURABLE, Measurements
from controller.judge import threshold


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The analysis after the latest looks, and what it means for the release."""

    status: AnalysisStatus
    failed: str = ""
    """Why the release is judged bad (empty: it is not)."""
    holding: str = ""
    """Why the release must hold (inconclusive: it never promotes)."""
    next_look: datetime | None = None
    recovered_from: datetime | None = None
    """Measurements failed from this time until these looks succeeded (a spell just over)."""
    unmeasurable: tuple[str, ...] = ()
    """Metrics that just became impossible to measure, or for a new reason: one Warning
    Event each (``metric: cannot be measured: why``)."""


def unjudged_seconds(current: AnalysisStatus | None, *, since: datetime, now: datetime) -> float:
    """Seconds from ``since`` (or later) until ``now`` during which measurements have been
    failing, as of ``current``; 0 while they succeed."""
    if current is None or current.unjudged_since is None:
        return 0.0
    return max(0.0, (now - max(current.unjudged_since, since)).total_seconds())


def spell_seconds(recovered_from: datetime | None, *, since: datetime, now: datetime) -> float:
    """Seconds of a failing spell that began at ``recovered_from`` and ended ``now``,
    counted from ``since`` at the earliest."""
    if recovered_from is None:
        return 0.0
    return max(0.0, (now - max(recovered_from, since)).total_seconds())


def _track_spell(
    current: AnalysisStatus, now: datetime, *, judged_until: datetime | None
) -> tuple[AnalysisStatus, datetime | None]:
    """Mark when measurements start failing (any metric's last one failed); clear it, and
    return its start, when they all succeed again.

    A spell starts at ``judged_until``, the last look that succeeded (else the stage's
    start), not at the first look that failed: what happened since the last good look
    has not been measured either, however long nobody looked (no leader for 35 s, then
    Prometheus down, in a CI kill-soak: the guard passed on its first, failed, look)."""
    failing = any(m.consecutive_errors > 0 for m in current.metrics)
    if failing and current.unjudged_since is None:
        since = min(judged_until or current.started_at or now, now)
        return current.model_copy(update={"unjudged_since": since}), None
    if not failing and current.unjudged_since is not None:
        return current.model_copy(update={"unjudged_since": None}), current.unjudged_since
    return current, None


def begin(
    spec: Analysis,
    current: AnalysisStatus | None,
    *,
    revision: str,
    stage: Stage,
    now: datetime,
) -> AnalysisStatus:
    """``current`` if it is the analysis of ``revision`` at ``stage``, else a fresh one."""
    if current is not None and current.revision == revision and current.stage == stage:
        names = [m.name for m in current.metrics]
        if names == [m.name for m in spec.metrics]:
            return current
        # The metrics were edited mid-release: keep the known ones, start the new ones.
        known = {m.name: m for m in current.metrics}
        metrics = [known.get(m.name) or MetricStatus(name=m.name) for m in spec.metrics]
        return current.model_copy(update={"metrics": metrics})
    return AnalysisStatus(
        revision=revision,
        stage=stage,
        started_at=now,
        metrics=[MetricStatus(name=m.name) for m in spec.metrics],
    )


def begin_guard(
    spec: Analysis, canary: AnalysisStatus | None, *, revision: str, previous: str, now: datetime
) -> AnalysisStatus | None:
    """The guard of the just-promoted ``revision``, with the canary analysis' baselines."""
    if spec.guard is None:
        return None
    seen = {m.name: m for m in canary.metrics} if canary and canary.revision == revision else {}
    metrics = []
    for metric in spec.metrics:
        before = seen.get(metric.name)
        metrics.append(
            MetricStatus(
                name=metric.name,
                stable_requests=before.stable_requests if before else 0,
                stable_bad=before.stable_bad if before else 0,
            )
        )
    return AnalysisStatus(
        revision=revision,
        stage=Stage.GUARD,
        baseline_revision=previous,
        started_at=now,
        ends_at=now + parse_duration(spec.guard.duration),
        metrics=metrics,
    )


def analyse(
    spec: Analysis,
    current: AnalysisStatus,
    *,
    measurements: Measurements | None,
    now: datetime,
    looking: bool = False,
) -> Outcome:
    """``current`` after folding in ``measurements`` (if they are its), and what it means.

    ``looking``: a look is in flight, and its end wakes the Rollout, so the outcome
    sets no time for the next look (which would be now, and again until it ends)."""
    unmeasurable: tuple[str, ...] = ()
    judged_until = current.last_measured_at  # a good look while no spell is open
    if (
        measurements is not None
        and measurements.revision == current.revision
        and measurements.stage == current.stage
        and measurements.started_at in (None, current.started_at)
    ):
        by_name = {r.metric: r for r in measurements.results}
        metrics = [
            fold(spec, current, m, by_name[m.name], measurements.at) if m.name in by_name else m
            for m in current.metrics
        ]
        unmeasurable = tuple(
            f"{after.name}: {after.reason}"
            for before, after in zip(current.metrics, metrics, strict=True)
            if after.reason.startswith(UNMEASURABLE) and after.reason != before.reason
        )
        current = current.model_copy(
            update={"metrics": metrics, "last_measured_at": measurements.at}
        )
    current, recovered_from = _track_spell(current, now, judged_until=judged_until)
    failed, holding = [], []
    by_spec = {m.name: m for m in spec.metrics}
    for status in current.metrics:
        metric = by_spec.get(status.name)
        if metric is None:
            continue
        if status.verdict == Verdict.FAIL:
            failed.append(evidence(status, current.stage))
        elif status.verdict == Verdict.INCONCLUSIVE:
            holding.append(f"{status.name}: {status.reason}")
        elif status.consecutive_errors > rules.error_limit(spec, metric):
            why = (
                f"{status.name}: {status.consecutive_errors} measurements failed in a row "
                f"({status.last_error})"
            )
            (failed if spec.on_error == "fail" else holding).append(why)
    next_look = None if current.completed or looking else _next_look(spec, current, now)
    hold = "; ".join(holding) if current.overridden_by is None else ""
    return Outcome(
        status=current,
        failed="; ".join(failed),
        holding=hold,
        next_look=next_look,
        recovered_from=recovered_from,
        unmeasurable=unmeasurable,
    )


def _next_look(spec: Analysis, current: AnalysisStatus, now: datetime) -> datetime | None:
    times: list[datetime] = []
    statuses = {m.name: m for m in current.metrics}
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        if metric.threshold is not None:
            tally = rules.tally(current, status, now)
            when = threshold.next_measurement(rules.rule(spec, metric), tally)
            if when is not None:
                times.append(when)
        elif status.verdict != Verdict.FAIL:
            times.append((status.measured_at or now) + rules.interval(spec, metric))
    return max(min(times), now) if times else None


def evidence(metric: MetricStatus, stage: Stage) -> str:
    """A metric's verdict in words, with its counts and likelihood ratio."""
    if metric.reason:
        return f"{metric.name}: {metric.reason}"
    canary = metric.canary_bad / metric.canary_requests if metric.canary_requests else 0.0
    stable = metric.stable_bad / metric.stable_requests if metric.stable_requests else 0.0
    who, against = ("canary", "stable") if stage == Stage.CANARY else ("new stable", "baseline")
    return (
        f"{metric.name}: {who} {metric.canary_bad:.0f}/{metric.canary_requests:.0f} bad "
        f"({canary:.2%}) vs {against} {metric.stable_bad:.0f}/{metric.stable_requests:.0f} "
        f"({stable:.2%}), likelihood ratio {metric.evidence:.3g}"
    )
