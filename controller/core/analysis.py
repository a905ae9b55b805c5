"""Folding metric measurements into the analysis status, and what it means for the release.

The I/O layer measures (Prometheus) and hands the results in; this module only
updates the judges' states — kept in ``status.analysis`` so a restarted
controller continues the same tests — and says whether the release may go on,
must hold, or must abort. It also says which metrics are due for a look
(:func:`plan`); whether an ``analysis`` step or the promotion may pass is
:mod:`controller.core.gates`.

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

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.api.analysis import Analysis, AnalysisStatus, Metric, MetricStatus, Stage
from controller.api.base import parse_duration
from controller.api.v1alpha1 import RolloutStatus
from controller.judge import baseline, sequential, threshold
from controller.judge.sequential import Window

CANARY: Stage = "Canary"
GUARD: Stage = "Guard"


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One metric's look: counts (comparison) or a value (threshold), or why it failed.

    A comparison's ``window`` holds the counts *since the analysis started*
    (cumulative): the core takes what is new since its last look. So a look that
    finds fewer samples than usual (a missed scrape, a window shorter than two
    scrape intervals) only delays counts, never loses them. ``window`` None and
    ``value`` None without an error means the query found no data. ``invalid`` is
    a configuration error (e.g. a query template that does not render): nothing
    can be measured until the Rollout is fixed.
    """

    metric: str
    window: Window | None = None
    value: float | None = None
    error: str = ""
    invalid: str = ""


@dataclass(frozen=True, kw_only=True)
class Measurements:
    """The looks due at ``at`` for ``revision`` (the canary, or the guarded stable)."""

    revision: str
    at: datetime
    results: tuple[Measurement, ...]
    stage: Stage = CANARY


@dataclass(frozen=True, kw_only=True)
class Due:
    """A look due now over ``window`` seconds: since the analysis started (comparisons),
    or the rule's interval (threshold rules)."""

    metric: Metric
    window: int


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: AnalysisStatus
    failed: str = ""
    """Why the release is judged bad (empty: it is not)."""
    holding: str = ""
    """Why the release must hold (inconclusive: it never promotes)."""
    next_look: datetime | None = None


# ------------------------------------------------------------------ config


def _config(spec: Analysis) -> sequential.Config:
    # Several metrics share alpha (Bonferroni): the release's false-rollback rate stays alpha.
    alpha = spec.alpha / len(spec.metrics)
    return sequential.Config(alpha=alpha, beta=spec.beta, min_ratio=spec.min_ratio)


def interval(spec: Analysis, metric: Metric) -> timedelta:
    if metric.threshold is not None and metric.threshold.interval:
        return parse_duration(metric.threshold.interval)
    return parse_duration(spec.interval)


def rule(spec: Analysis, metric: Metric) -> threshold.Rule:
    """The threshold rule of a ``threshold`` metric, defaults filled from the analysis."""
    t = metric.threshold
    assert t is not None
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


_PHASE_VERDICT = {
    threshold.Phase.RUNNING: "Undecided",
    threshold.Phase.SUCCESSFUL: "Pass",
    threshold.Phase.FAILED: "Fail",
    threshold.Phase.INCONCLUSIVE: "Inconclusive",
}
_VERDICT_PHASE = {v: k for k, v in _PHASE_VERDICT.items()}


def _tally(status: AnalysisStatus, metric: MetricStatus, now: datetime) -> threshold.Tally:
    return threshold.Tally(
        started_at=status.started_at or now,
        measurements=metric.measurements,
        successful=metric.successful,
        failed=metric.failed,
        inconclusive=metric.inconclusive,
        errors=metric.errors,
        consecutive_errors=metric.consecutive_errors,
        last_value=metric.value,
        phase=_VERDICT_PHASE[metric.verdict],
    )


# ------------------------------------------------------------------ start


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
        stage=GUARD,
        baseline_revision=previous,
        started_at=now,
        ends_at=now + parse_duration(spec.guard.duration),
        metrics=metrics,
    )


# ------------------------------------------------------------------ looks


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
        current = begin(spec, status.analysis, revision=canary, stage=CANARY, now=now)
        return Target(stage=CANARY, revision=canary, other=stable, current=current)
    guard = status.analysis
    if (
        guard is None
        or guard.stage != GUARD
        or guard.completed
        or guard.revision != stable
        or guard.baseline_revision is None
        or status.rolling_back_to is not None
    ):
        return None
    return Target(stage=GUARD, revision=stable, other=guard.baseline_revision, current=guard)


def plan(spec: Analysis, current: AnalysisStatus | None, *, now: datetime) -> list[Due]:
    """The looks due at ``now`` for the analysis ``current`` (all of them when it is new)."""
    statuses = {m.name: m for m in current.metrics} if current is not None else {}
    due: list[Due] = []
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        every = interval(spec, metric)
        if metric.threshold is not None:
            tally = _tally(current or AnalysisStatus(revision=""), status, now)
            when = threshold.next_measurement(rule(spec, metric), tally)
            if when is not None and now >= when:
                due.append(Due(metric=metric, window=_seconds(every)))
            continue
        if status.verdict == "Fail" or (current is not None and current.completed):
            continue
        started = (current.started_at if current else None) or now
        if now >= (status.measured_at or started) + every:
            due.append(Due(metric=metric, window=_seconds(now - started)))
    return due


def _seconds(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds()))


def analyse(
    spec: Analysis,
    current: AnalysisStatus,
    *,
    measurements: Measurements | None,
    now: datetime,
) -> Outcome:
    """``current`` after folding in ``measurements`` (if they are its), and what it means."""
    if (
        measurements is not None
        and measurements.revision == current.revision
        and measurements.stage == current.stage
    ):
        by_name = {r.metric: r for r in measurements.results}
        metrics = [
            _fold(spec, current, m, by_name[m.name], measurements.at) if m.name in by_name else m
            for m in current.metrics
        ]
        current = current.model_copy(
            update={"metrics": metrics, "last_measured_at": measurements.at}
        )
    failed, holding = [], []
    by_spec = {m.name: m for m in spec.metrics}
    for status in current.metrics:
        metric = by_spec.get(status.name)
        if metric is None:
            continue
        if status.verdict == "Fail":
            failed.append(evidence(status, current.stage))
        elif status.verdict == "Inconclusive":
            holding.append(f"{status.name}: {status.reason}")
        elif status.consecutive_errors > _error_limit(spec, metric):
            why = (
                f"{status.name}: {status.consecutive_errors} measurements failed in a row "
                f"({status.last_error})"
            )
            (failed if spec.on_error == "fail" else holding).append(why)
    next_look = None if current.completed else _next_look(spec, current, now)
    hold = "; ".join(holding) if current.overridden_by is None else ""
    return Outcome(status=current, failed="; ".join(failed), holding=hold, next_look=next_look)


def _error_limit(spec: Analysis, metric: Metric) -> int:
    if metric.threshold is not None and metric.threshold.consecutive_error_limit is not None:
        return metric.threshold.consecutive_error_limit
    return spec.max_consecutive_errors


def _next_look(spec: Analysis, current: AnalysisStatus, now: datetime) -> datetime | None:
    times: list[datetime] = []
    statuses = {m.name: m for m in current.metrics}
    for metric in spec.metrics:
        status = statuses.get(metric.name) or MetricStatus(name=metric.name)
        if metric.threshold is not None:
            when = threshold.next_measurement(rule(spec, metric), _tally(current, status, now))
            if when is not None:
                times.append(when)
        elif status.verdict != "Fail":
            times.append((status.measured_at or now) + interval(spec, metric))
    return max(min(times), now) if times else None


def _fold(
    spec: Analysis,
    current: AnalysisStatus,
    status: MetricStatus,
    result: Measurement,
    at: datetime,
) -> MetricStatus:
    metric = next(m for m in spec.metrics if m.name == status.name)
    if result.invalid:
        return status.model_copy(
            update={
                "verdict": "Inconclusive",
                "reason": f"cannot be measured: {result.invalid}"[:512],
                "measured_at": at,
            }
        )
    if metric.threshold is not None:
        return _fold_threshold(spec, current, metric, status, result, at)
    if result.error or result.window is None or not _finite(result.window):
        why = result.error or "measurement returned NaN"
        return status.model_copy(
            update={
                "consecutive_errors": status.consecutive_errors + 1,
                "errors": status.errors + 1,
                "last_error": why[:512],
                "measured_at": at,
            }
        )
    if current.stage == GUARD:
        return _fold_guard(spec, status, _new(result.window, status, guard=True), at)
    window = _new(result.window, status, guard=False)
    config = _config(spec)
    passed = status.verdict == "Pass"
    # A passed canary keeps being watched: the fail test runs on until promotion.
    state = sequential.update(
        _state(status.model_copy(update={"verdict": "Undecided"})), window, config
    )
    verdict = state.verdict.value
    if passed and state.verdict is not sequential.Verdict.FAIL:
        verdict = "Pass"
    return status.model_copy(
        update={
            "verdict": verdict,
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
            "measured_at": at,
        }
    )


def _new(cumulative: Window, status: MetricStatus, *, guard: bool) -> Window:
    """The counts since the last look: cumulative counts minus what was folded in.

    Prometheus extrapolates ``increase`` to the window's edges, so a cumulative
    count can dip below the previous one; such a dip adds nothing. During the guard
    only the new stable (``canary_*``) is counted: the baseline is fixed.
    """
    return Window(
        canary_requests=max(0.0, cumulative.canary_requests - status.canary_requests),
        canary_bad=max(0.0, cumulative.canary_bad - status.canary_bad),
        stable_requests=0.0
        if guard
        else max(0.0, cumulative.stable_requests - status.stable_requests),
        stable_bad=0.0 if guard else max(0.0, cumulative.stable_bad - status.stable_bad),
    )


def _fold_guard(spec: Analysis, status: MetricStatus, window: Window, at: datetime) -> MetricStatus:
    state = baseline.update(
        baseline.State(
            log_lr=tuple(status.log_lr),
            requests=status.canary_requests,
            bad=status.canary_bad,
            verdict=sequential.Verdict(status.verdict)
            if status.verdict in ("Undecided", "Fail")
            else sequential.Verdict.UNDECIDED,
        ),
        window,
        baseline.Baseline(requests=status.stable_requests, bad=status.stable_bad),
        _config(spec),
    )
    return status.model_copy(
        update={
            "verdict": state.verdict.value,
            "canary_requests": state.requests,
            "canary_bad": state.bad,
            "log_lr": list(state.log_lr),
            "evidence": round(baseline.evidence(state), 6),
            "consecutive_errors": 0,
            "last_error": "",
            "measured_at": at,
        }
    )


def _fold_threshold(  # noqa: PLR0917 - internal, called once
    spec: Analysis,
    current: AnalysisStatus,
    metric: Metric,
    status: MetricStatus,
    result: Measurement,
    at: datetime,
) -> MetricStatus:
    the_rule = rule(spec, metric)
    value = None if result.value is not None and math.isnan(result.value) else result.value
    outcome = threshold.classify(the_rule, value, error=bool(result.error))
    tally = threshold.record(the_rule, _tally(current, status, at), outcome, value)
    verdict = _PHASE_VERDICT[tally.phase]
    reason = status.reason
    if verdict in ("Fail", "Inconclusive") and not reason:
        reason = _threshold_reason(metric, tally, result)
    return status.model_copy(
        update={
            "verdict": verdict,
            "value": tally.last_value,
            "measurements": tally.measurements,
            "successful": tally.successful,
            "failed": tally.failed,
            "inconclusive": tally.inconclusive,
            "errors": tally.errors,
            "consecutive_errors": tally.consecutive_errors,
            "last_error": result.error[:512] if result.error else "",
            "measured_at": at,
            "reason": reason[:512],
        }
    )


def _threshold_reason(metric: Metric, tally: threshold.Tally, result: Measurement) -> str:
    t = metric.threshold
    assert t is not None
    pairs = (("success", t.success), ("failure", t.failure))
    conditions = ", ".join(f"{label} {text}" for label, text in pairs if text)
    last = "no data" if tally.last_value is None else f"{tally.last_value:.6g}"
    if result.error:
        last = f"error: {result.error}"
    return (
        f"{tally.failed} failed, {tally.inconclusive} inconclusive, {tally.errors} errors of "
        f"{tally.measurements} measurements ({conditions}); last {last}"
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


def _finite(window: Window) -> bool:
    values = (window.canary_requests, window.canary_bad, window.stable_requests, window.stable_bad)
    return all(math.isfinite(v) and v >= 0 for v in values)


def evidence(metric: MetricStatus, stage: Stage) -> str:
    """A metric's verdict in words, with its counts and likelihood ratio."""
    if metric.reason:
        return f"{metric.name}: {metric.reason}"
    canary = metric.canary_bad / metric.canary_requests if metric.canary_requests else 0.0
    stable = metric.stable_bad / metric.stable_requests if metric.stable_requests else 0.0
    who, against = ("canary", "stable") if stage == CANARY else ("new stable", "baseline")
    return (
        f"{metric.name}: {who} {metric.canary_bad:.0f}/{metric.canary_requests:.0f} bad "
        f"({canary:.2%}) vs {against} {metric.stable_bad:.0f}/{metric.stable_requests:.0f} "
        f"({stable:.2%}), likelihood ratio {metric.evidence:.3g}"
    )
