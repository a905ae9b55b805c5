"""Folding one look into a metric's status: the judges' states move on (pure).

A comparison's counts update the sequential judge (canary stage) or the
baseline judge (guard); a threshold value is classified and counted as
:mod:`controller.judge.threshold` counts. A failed look counts as an error and
changes no verdict; a configuration error makes the metric inconclusive until a
look succeeds again (the Rollout or the controller's settings fixed), when the
judging resumes where it was.
"""

from __future__ import annotations

import math
from datetime import datetime

from controller.api.analysis import (
    Analysis,
    AnalysisStatus,
    Metric,
    MetricStatus,
    Stage,
    Verdict,
)
from controller.core import rules
from controller.core.measurements import UNMEASURABLE, Measurement
from controller.judge import baseline, sequential, threshold
from controller.judge.sequential import Window

_TEXT = 512
"""Longest reason or error kept in the status."""


def fold(
    spec: Analysis,
    current: AnalysisStatus,
    status: MetricStatus,
    result: Measurement,
    at: datetime,
) -> MetricStatus:
    """``status`` after the look ``result`` taken at ``at``."""
    metric = next(m for m in spec.metrics if m.name == status.name)
    if result.invalid:
        return status.model_copy(
            update={
                "verdict": Verdict.INCONCLUSIVE,
                "reason": f"{UNMEASURABLE}{result.invalid}"[:_TEXT],
                "measured_at": at,
            }
        )
    if status.reason.startswith(UNMEASURABLE):  # measurable again: the judging resumes
        status = status.model_copy(update={"reason": "", "verdict": Verdict.UNDECIDED})
    if metric.threshold is not None:
        return _fold_threshold(spec, current, metric=metric, status=status, result=result, at=at)
    if result.error or result.window is None or not _finite(result.window):
        why = result.error or "measurement returned NaN"
        return status.model_copy(
            update={
                "consecutive_errors": status.consecutive_errors + 1,
                "errors": status.errors + 1,
                "last_error": why[:_TEXT],
                "measured_at": at,
            }
        )
    if current.stage == Stage.GUARD:
        return _fold_guard(spec, status, new_counts(result.window, status, guard=True), at)
    return _fold_comparison(spec, status, new_counts(result.window, status, guard=False), at)


def new_counts(cumulative: Window, status: MetricStatus, *, guard: bool) -> Window:
    """The counts since the last look: cumulative counts minus what was folded in.

    The counts are exact, yet a cumulative count can still dip below the previous
    one: a counter reset between two looks (a restarted pod) drops the increments
    before it, and a series that went away (its pod deleted) no longer counts. Such
    a dip adds nothing, so nothing is counted twice when the count climbs back.
    During the guard only the new stable (``canary_*``) is counted: the baseline
    is fixed.
    """
    return Window(
        canary_requests=max(0.0, cumulative.canary_requests - status.canary_requests),
        canary_bad=max(0.0, cumulative.canary_bad - status.canary_bad),
        stable_requests=0.0
        if guard
        else max(0.0, cumulative.stable_requests - status.stable_requests),
        stable_bad=0.0 if guard else max(0.0, cumulative.stable_bad - status.stable_bad),
    )


def _fold_comparison(
    spec: Analysis, status: MetricStatus, window: Window, at: datetime
) -> MetricStatus:
    config = rules.comparison_config(spec)
    passed = status.verdict == Verdict.PASS
    # A passed canary keeps being watched: the fail test runs on until promotion.
    state = sequential.update(_state(status), window, config)
    verdict = Verdict(state.verdict.value)
    if passed and state.verdict is not sequential.Verdict.FAIL:
        verdict = Verdict.PASS
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


def _fold_guard(spec: Analysis, status: MetricStatus, window: Window, at: datetime) -> MetricStatus:
    running = status.verdict in (Verdict.UNDECIDED, Verdict.FAIL)
    state = baseline.update(
        baseline.State(
            log_lr=tuple(status.log_lr),
            requests=status.canary_requests,
            bad=status.canary_bad,
            verdict=sequential.Verdict(status.verdict.value)
            if running
            else sequential.Verdict.UNDECIDED,
        ),
        window,
        baseline.Baseline(requests=status.stable_requests, bad=status.stable_bad),
        rules.comparison_config(spec),
    )
    return status.model_copy(
        update={
            "verdict": Verdict(state.verdict.value),
            "canary_requests": state.requests,
            "canary_bad": state.bad,
            "log_lr": list(state.log_lr),
            "evidence": round(baseline.evidence(state), 6),
            "consecutive_errors": 0,
            "last_error": "",
            "measured_at": at,
        }
    )


def _fold_threshold(
    spec: Analysis,
    current: AnalysisStatus,
    *,
    metric: Metric,
    status: MetricStatus,
    result: Measurement,
    at: datetime,
) -> MetricStatus:
    the_rule = rules.rule(spec, metric)
    value = None if result.value is not None and math.isnan(result.value) else result.value
    outcome = threshold.classify(the_rule, value, error=bool(result.error))
    tally = threshold.record(the_rule, rules.tally(current, status, at), outcome, value)
    verdict = rules.PHASE_VERDICT[tally.phase]
    reason = status.reason
    if verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE) and not reason:
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
            "last_error": result.error[:_TEXT] if result.error else "",
            "measured_at": at,
            "reason": reason[:_TEXT],
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
    """The sequential judge's state, its verdict reopened: a passed canary may still fail."""
    return sequential.State(
        log_lr=tuple(metric.log_lr),
        pass_log_lr=metric.pass_log_lr,
        canary_requests=metric.canary_requests,
        canary_bad=metric.canary_bad,
        stable_requests=metric.stable_requests,
        stable_bad=metric.stable_bad,
        verdict=sequential.Verdict.UNDECIDED,
    )


def _finite(window: Window) -> bool:
    values = (window.canary_requests, window.canary_bad, window.stable_requests, window.stable_bad)
    return all(math.isfinite(v) and v >= 0 for v in values)
