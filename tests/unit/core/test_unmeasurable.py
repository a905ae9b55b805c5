"""A metric that cannot be measured (refused by the admin's settings, an unreadable
Secret, a bad template) holds the release with the reason, says so once per reason,
never fails it, and resumes judging once a look succeeds again (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.api.analysis import Analysis, AnalysisStatus, Stage, Verdict
from controller.core.analysis import Outcome, analyse, begin
from controller.core.measurements import Measurement, Measurements
from controller.judge.sequential import Window

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REFUSED = "http://x:9090 is not an allowed Prometheus address (allowed: none configured)"


def spec(metric: dict[str, Any]) -> Analysis:
    return Analysis.model_validate({"interval": "10s", "metrics": [metric]})


def look(analysis: Analysis, current: AnalysisStatus, result: Measurement, seconds: int) -> Outcome:
    at = T0 + timedelta(seconds=seconds)
    looks = Measurements(revision="bbb", at=at, results=(result,), started_at=T0)
    return analyse(analysis, current, measurements=looks, now=at)


def test_a_refused_metric_holds_with_one_warning_per_reason_and_never_fails() -> None:
    analysis = spec({"name": "m", "builtin": "app-errors"})
    current = begin(analysis, None, revision="bbb", stage=Stage.CANARY, now=T0)

    first = look(analysis, current, Measurement(metric="m", invalid=REFUSED), 10)
    again = look(analysis, first.status, Measurement(metric="m", invalid=REFUSED), 20)
    other = look(analysis, again.status, Measurement(metric="m", invalid="another reason"), 30)

    assert first.unmeasurable == (f"m: cannot be measured: {REFUSED}",)
    assert again.unmeasurable == ()
    assert other.unmeasurable == ("m: cannot be measured: another reason",)
    for outcome in (first, again, other):
        assert outcome.failed == ""
        assert outcome.holding.startswith("m: cannot be measured: ")
        assert outcome.status.metrics[0].verdict == Verdict.INCONCLUSIVE


def test_a_comparison_resumes_once_it_can_be_measured_again() -> None:
    analysis = spec({"name": "m", "builtin": "app-errors"})
    current = begin(analysis, None, revision="bbb", stage=Stage.CANARY, now=T0)
    refused = look(analysis, current, Measurement(metric="m", invalid=REFUSED), 10)

    counts = Window(canary_requests=100, canary_bad=1, stable_requests=100, stable_bad=1)
    fixed = look(analysis, refused.status, Measurement(metric="m", window=counts), 20)

    metric = fixed.status.metrics[0]
    assert metric.reason == ""
    assert metric.verdict != Verdict.INCONCLUSIVE
    assert metric.canary_requests == 100
    assert fixed.holding == ""
    assert fixed.unmeasurable == ()


def test_a_threshold_rule_resumes_and_can_pass_once_allowed() -> None:
    analysis = spec({"name": "m", "threshold": {"query": "up", "success": "> 0", "count": 2}})
    current = begin(analysis, None, revision="bbb", stage=Stage.CANARY, now=T0)
    outcome = look(analysis, current, Measurement(metric="m", invalid=REFUSED), 10)
    for seconds in (20, 30):
        outcome = look(analysis, outcome.status, Measurement(metric="m", value=1.0), seconds)

    metric = outcome.status.metrics[0]
    assert metric.verdict == Verdict.PASS
    assert (metric.measurements, metric.successful) == (2, 2)
    assert outcome.holding == ""
