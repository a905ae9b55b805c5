"""The analysis gates: whether an ``analysis`` step or the promotion may pass.

:func:`controller.core.gates.analysis_step` and :func:`controller.core.gates.promotion`
answer with a :class:`Hold` (the reason and when time alone may end it), an
:class:`Abort`, or None. These tests pin every reason and wake-up each can give,
the ``noData`` policies, a user's override, and that both are pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as s

from controller.api.analysis import Analysis, AnalysisStatus
from controller.api.reasons import AbortCode, HoldReason
from controller.api.v1alpha1 import Step
from controller.core import gates
from controller.core.holds import (
    Abort,
    Answer,
    Hold,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TEN_MINUTES = timedelta(minutes=10)

ERRORS = {"name": "errors", "builtin": "app-errors"}
LATENCY = {"name": "latency", "builtin": "app-latency", "latencyBoundSeconds": 0.5}


def step(data: dict[str, Any]) -> Step:
    return Step.model_validate(data)


def spec(*metrics: dict[str, Any]) -> Analysis:
    return Analysis.model_validate({"interval": "10s", "metrics": list(metrics)})


def status(*metrics: dict[str, Any], overridden_by: str | None = None) -> AnalysisStatus:
    return AnalysisStatus.model_validate(
        {"revision": "abcde12345", "metrics": list(metrics), "overriddenBy": overridden_by}
    )


def undecided(name: str = "errors", more: int | None = 300) -> dict[str, Any]:
    """A comparison with requests on both sides but no verdict yet."""
    return {
        "name": name,
        "canaryRequests": 500,
        "canaryBad": 5,
        "stableRequests": 1500,
        "stableBad": 15,
        "moreCanaryRequestsNeeded": more,
    }


def no_data(name: str = "errors", *, canary: float = 0, stable: float = 0) -> dict[str, Any]:
    return {"name": name, "canaryRequests": canary, "stableRequests": stable}


def failed(name: str = "errors") -> dict[str, Any]:
    return {
        "name": name,
        "verdict": "Fail",
        "canaryRequests": 100,
        "canaryBad": 20,
        "stableRequests": 100,
        "stableBad": 1,
        "evidence": 150.0,
    }


def passed(name: str = "errors") -> dict[str, Any]:
    return {**undecided(name, more=None), "verdict": "Pass"}


def inconclusive(name: str = "errors", reason: str = "query failed 5 times") -> dict[str, Any]:
    return {"name": name, "verdict": "Inconclusive", "reason": reason}


FAILED_EVIDENCE = "errors: canary 20/100 bad (20.00%) vs stable 1/100 (1.00%), likelihood ratio 150"

ANALYSIS_STEP = step({"analysis": {"maxDuration": "10m"}})


def at_step(
    spec_: Analysis | None,
    status_: AnalysisStatus | None,
    *,
    after: timedelta,
    step_: Step = ANALYSIS_STEP,
) -> Answer:
    """The ``analysis`` step's answer ``after`` its start (T0); it ends at T0 + 10m."""
    return gates.analysis_step(spec_, status_, step_, started=T0, now=T0 + after)


# ------------------------------------------------------ gates.analysis_step


@pytest.mark.parametrize("after", [timedelta(0), TEN_MINUTES - SECOND])
def test_an_analysis_step_runs_until_its_max_duration_while_undecided(after: timedelta) -> None:
    answer = at_step(spec(ERRORS), status(undecided()), after=after)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_RUNNING,
        detail="errors: ≈300 more canary requests",
        wake_at=T0 + TEN_MINUTES,
    )


def test_an_undecided_metric_without_an_estimate_reads_undecided() -> None:
    answer = at_step(spec(ERRORS), status(undecided(more=None)), after=SECOND)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_RUNNING, detail="errors: undecided", wake_at=T0 + TEN_MINUTES
    )


def test_the_wake_up_is_the_steps_own_max_duration() -> None:
    short = step({"analysis": {"maxDuration": "90s"}})
    answer = at_step(spec(ERRORS), status(undecided()), after=SECOND, step_=short)
    assert isinstance(answer, Hold)
    assert answer.wake_at == T0 + timedelta(seconds=90)


@pytest.mark.parametrize(
    "current",
    [
        status(no_data()),
        status(no_data(canary=0, stable=800)),
        status(no_data(canary=800, stable=0)),
        status(),  # the analyst has not looked at the metric yet
    ],
    ids=["nothing", "canary-none", "stable-none", "no-status-entry"],
)
def test_an_analysis_step_waits_for_data_until_its_max_duration(current: AnalysisStatus) -> None:
    answer = at_step(spec(ERRORS), current, after=TEN_MINUTES - SECOND)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_RUNNING,
        detail="errors: no data yet",
        wake_at=T0 + TEN_MINUTES,
    )


@pytest.mark.parametrize("after", [TEN_MINUTES, TEN_MINUTES + SECOND, timedelta(days=3)])
def test_undecided_metrics_become_inconclusive_at_max_duration_with_no_wake_up(
    after: timedelta,
) -> None:
    answer = at_step(spec(ERRORS), status(undecided()), after=after)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_INCONCLUSIVE,
        detail="errors: still undecided (≈300 more canary requests)",
        wake_at=None,
    )


NO_DATA_POLICIES = [
    (
        "fail",
        Abort(
            code=AbortCode.ANALYSIS_FAILED,
            reason="errors: no data (the canary served no requests)",
        ),
    ),
    (
        "inconclusive",
        Hold(
            reason=HoldReason.ANALYSIS_INCONCLUSIVE,
            detail="errors: no data (the canary served no requests)",
        ),
    ),
    ("ignore", None),
]
"""Each ``noData`` policy, and what a gate answers for a canary that served nothing."""


@pytest.mark.parametrize(("policy", "expected"), NO_DATA_POLICIES)
def test_no_data_at_max_duration_follows_the_metrics_no_data_policy(
    policy: str, expected: Answer
) -> None:
    metric = {**ERRORS, "noData": policy}
    assert at_step(spec(metric), status(no_data(stable=800)), after=TEN_MINUTES) == expected
    # Before maxDuration the policy is not applied yet: the step waits for data.
    early = at_step(spec(metric), status(no_data(stable=800)), after=SECOND)
    assert isinstance(early, Hold)
    assert early.reason is HoldReason.ANALYSIS_RUNNING


def test_no_data_names_the_side_that_served_nothing() -> None:
    answer = at_step(spec(ERRORS), status(no_data(canary=800, stable=0)), after=TEN_MINUTES)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_INCONCLUSIVE,
        detail="errors: no data (the stable served no requests)",
    )


def test_the_default_no_data_policy_holds_as_inconclusive() -> None:
    answer = at_step(spec(ERRORS), status(no_data()), after=TEN_MINUTES)
    assert isinstance(answer, Hold)
    assert answer.reason is HoldReason.ANALYSIS_INCONCLUSIVE


@pytest.mark.parametrize("after", [timedelta(0), TEN_MINUTES + SECOND])
def test_a_failed_metric_aborts_the_step_with_its_evidence(after: timedelta) -> None:
    answer = at_step(spec(ERRORS), status(failed()), after=after)
    assert answer == Abort(code=AbortCode.ANALYSIS_FAILED, reason=FAILED_EVIDENCE)


def test_a_failed_metric_beats_the_others_holding() -> None:
    current = status(inconclusive("latency"), failed())
    answer = at_step(spec(ERRORS, LATENCY), current, after=SECOND)
    assert answer == Abort(code=AbortCode.ANALYSIS_FAILED, reason=FAILED_EVIDENCE)


def test_a_failed_metric_with_a_reason_aborts_with_that_reason() -> None:
    current = status({**failed(), "reason": "3 measurements failed in a row"})
    answer = at_step(spec(ERRORS), current, after=SECOND)
    assert answer == Abort(
        code=AbortCode.ANALYSIS_FAILED, reason="errors: 3 measurements failed in a row"
    )


def test_an_inconclusive_verdict_holds_the_step_without_a_wake_up() -> None:
    answer = at_step(
        spec(ERRORS, LATENCY), status(inconclusive(), undecided("latency")), after=SECOND
    )
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_INCONCLUSIVE, detail="errors: query failed 5 times"
    )


@pytest.mark.parametrize("after", [timedelta(0), TEN_MINUTES + SECOND])
def test_an_analysis_step_whose_metrics_all_pass_lets_the_release_go_on(after: timedelta) -> None:
    current = status(passed("errors"), passed("latency"))
    assert at_step(spec(ERRORS, LATENCY), current, after=after) is None


def test_several_waiting_metrics_are_all_named() -> None:
    current = status(undecided("errors", more=40), no_data("latency"))
    answer = at_step(spec(ERRORS, LATENCY), current, after=SECOND)
    assert isinstance(answer, Hold)
    assert answer.detail == "errors: ≈40 more canary requests; latency: no data yet"


def test_an_analysis_step_naming_metrics_waits_only_for_those() -> None:
    both = spec(ERRORS, LATENCY)
    current = status(passed("errors"), failed("latency"))
    only_errors = step({"analysis": {"metrics": ["errors"], "maxDuration": "10m"}})
    only_latency = step({"analysis": {"metrics": ["latency"], "maxDuration": "10m"}})
    all_metrics = step({"analysis": {"metrics": [], "maxDuration": "10m"}})
    assert at_step(both, current, after=SECOND, step_=only_errors) is None
    for chosen in (only_latency, all_metrics):
        answer = at_step(both, current, after=SECOND, step_=chosen)
        assert isinstance(answer, Abort)
        assert answer.reason.startswith("latency: canary 20/100 bad")
    # A named metric that is still undecided keeps the step; the others do not count.
    waiting = status(undecided("errors"), passed("latency"))
    assert at_step(both, waiting, after=SECOND, step_=only_latency) is None
    assert at_step(both, waiting, after=SECOND, step_=only_errors) == Hold(
        reason=HoldReason.ANALYSIS_RUNNING,
        detail="errors: ≈300 more canary requests",
        wake_at=T0 + TEN_MINUTES,
    )


@pytest.mark.parametrize(
    "current",
    [
        status(undecided(), overridden_by="alice"),  # undecided at maxDuration
        status(no_data(), overridden_by="alice"),  # noData: inconclusive
        status(inconclusive(), overridden_by="alice"),  # an inconclusive verdict
    ],
    ids=["undecided", "no-data", "inconclusive-verdict"],
)
def test_a_users_override_clears_what_is_inconclusive(current: AnalysisStatus) -> None:
    assert at_step(spec(ERRORS), current, after=TEN_MINUTES) is None
    not_overridden = current.model_copy(update={"overridden_by": None})
    answer = at_step(spec(ERRORS), not_overridden, after=TEN_MINUTES)
    assert isinstance(answer, Hold)
    assert answer.reason is HoldReason.ANALYSIS_INCONCLUSIVE


def test_a_users_override_does_not_clear_a_failure() -> None:
    answer = at_step(spec(ERRORS), status(failed(), overridden_by="alice"), after=TEN_MINUTES)
    assert answer == Abort(code=AbortCode.ANALYSIS_FAILED, reason=FAILED_EVIDENCE)
    no_data_fails = spec({**ERRORS, "noData": "fail"})
    answer = at_step(no_data_fails, status(no_data(), overridden_by="alice"), after=TEN_MINUTES)
    assert isinstance(answer, Abort)
    assert answer.code is AbortCode.ANALYSIS_FAILED


def test_an_analysis_step_without_a_spec_or_a_status_does_not_hold() -> None:
    assert at_step(None, status(failed()), after=SECOND) is None
    assert at_step(spec(ERRORS), None, after=SECOND) is None
    assert at_step(None, None, after=TEN_MINUTES) is None
    # Not an analysis step at all: nothing for the gate to say.
    not_analysis = step({"pause": {}})
    assert at_step(spec(ERRORS), status(failed()), after=SECOND, step_=not_analysis) is None


def threshold_metric(**rule: Any) -> dict[str, Any]:
    return {"name": "p99", "threshold": {"query": "vector(1)", "success": "< 0.5", **rule}}


def test_an_uncounted_threshold_metric_passes_a_step_on_its_first_success() -> None:
    metric = threshold_metric()
    assert at_step(spec(metric), status({"name": "p99", "successful": 1}), after=SECOND) is None
    answer = at_step(spec(metric), status({"name": "p99"}), after=SECOND)
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_RUNNING, detail="p99: undecided", wake_at=T0 + TEN_MINUTES
    )


def test_a_counted_threshold_metric_needs_its_verdict_at_a_step() -> None:
    metric = threshold_metric(count=5)
    current = status({"name": "p99", "measurements": 3, "successful": 3})
    answer = at_step(spec(metric), current, after=SECOND)
    assert isinstance(answer, Hold)
    assert answer.reason is HoldReason.ANALYSIS_RUNNING
    expired = at_step(spec(metric), current, after=TEN_MINUTES)
    assert expired == Hold(
        reason=HoldReason.ANALYSIS_INCONCLUSIVE, detail="p99: still undecided (undecided)"
    )


# --------------------------------------------------------- gates.promotion


def test_the_promotion_aborts_on_a_failing_metric() -> None:
    answer = gates.promotion(spec(ERRORS, LATENCY), status(failed(), undecided("latency")))
    assert answer == Abort(code=AbortCode.ANALYSIS_FAILED, reason=FAILED_EVIDENCE)


def test_the_promotion_holds_on_an_inconclusive_verdict() -> None:
    answer = gates.promotion(spec(ERRORS), status(inconclusive()))
    assert answer == Hold(
        reason=HoldReason.ANALYSIS_INCONCLUSIVE,
        detail="errors: query failed 5 times",
        wake_at=None,
    )


def test_the_promotion_needs_no_verdict_from_a_comparison_with_data() -> None:
    assert gates.promotion(spec(ERRORS), status(undecided())) is None
    assert gates.promotion(spec(ERRORS, LATENCY), status(undecided(), passed("latency"))) is None


@pytest.mark.parametrize(("policy", "expected"), NO_DATA_POLICIES)
def test_the_promotion_without_data_follows_the_no_data_policy(
    policy: str, expected: Answer
) -> None:
    metric = {**ERRORS, "noData": policy}
    assert gates.promotion(spec(metric), status(no_data(stable=800))) == expected
    # No status entry at all is no data too.
    assert gates.promotion(spec(metric), status()) == expected


def test_the_promotion_passes_a_threshold_metric_without_a_verdict() -> None:
    metric = threshold_metric(count=5)
    assert gates.promotion(spec(metric), status({"name": "p99"})) is None
    assert gates.promotion(spec(metric), status()) is None
    # … but not one that failed.
    answer = gates.promotion(
        spec(metric), status({"name": "p99", "verdict": "Fail", "reason": "x"})
    )
    assert answer == Abort(code=AbortCode.ANALYSIS_FAILED, reason="p99: x")


def test_a_users_override_clears_an_inconclusive_promotion() -> None:
    assert gates.promotion(spec(ERRORS), status(inconclusive(), overridden_by="alice")) is None
    assert gates.promotion(spec(ERRORS), status(no_data(), overridden_by="alice")) is None


def test_the_promotion_without_a_spec_or_a_status_does_not_hold() -> None:
    assert gates.promotion(None, status(failed())) is None
    assert gates.promotion(spec(ERRORS), None) is None


# ------------------------------------------------------------------- purity

_verdicts = s.sampled_from(["Undecided", "Pass", "Fail", "Inconclusive"])
_requests = s.sampled_from([0.0, 1.0, 250.0])


@s.composite
def gate_inputs(draw: s.DrawFn) -> tuple[Analysis, AnalysisStatus, Step, timedelta]:
    names = draw(s.lists(s.sampled_from(["errors", "latency", "p99"]), min_size=1, unique=True))
    metrics: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    for name in names:
        policy = draw(s.sampled_from(["fail", "inconclusive", "ignore"]))
        if name == "p99":
            count = draw(s.one_of(s.none(), s.integers(1, 5)))
            metrics.append({**threshold_metric(count=count), "noData": policy})
        else:
            metrics.append({"name": name, "builtin": "app-errors", "noData": policy})
        if draw(s.booleans()):
            statuses.append(
                {
                    "name": name,
                    "verdict": draw(_verdicts),
                    "reason": draw(s.sampled_from(["", "why"])),
                    "canaryRequests": draw(_requests),
                    "stableRequests": draw(_requests),
                    "moreCanaryRequestsNeeded": draw(s.one_of(s.none(), s.integers(1, 999))),
                    "successful": draw(s.integers(0, 2)),
                    "logLr": draw(s.lists(s.floats(-5, 5), max_size=3)),
                }
            )
    chosen = draw(s.lists(s.sampled_from(names), unique=True))
    current = status(*statuses, overridden_by=draw(s.sampled_from([None, "alice"])))
    analysis_step = step({"analysis": {"metrics": chosen, "maxDuration": "10m"}})
    after = timedelta(seconds=draw(s.integers(0, 1200)))
    return spec(*metrics), current, analysis_step, after


@settings(max_examples=300, deadline=None)
@given(gate_inputs())
def test_the_gates_are_pure(inputs: tuple[Analysis, AnalysisStatus, Step, timedelta]) -> None:
    spec_, current, analysis_step, after = inputs
    before = (spec_.model_dump(), current.model_dump(), analysis_step.model_dump())
    first = at_step(spec_, current, after=after, step_=analysis_step)
    second = at_step(spec_, current, after=after, step_=analysis_step)
    assert first == second
    assert gates.promotion(spec_, current) == gates.promotion(spec_, current)
    assert (spec_.model_dump(), current.model_dump(), analysis_step.model_dump()) == before
    # Whatever the metrics say, only a running analysis wakes, and at the step's end.
    if isinstance(first, Hold):
        if first.reason is HoldReason.ANALYSIS_RUNNING:
            assert after < TEN_MINUTES
            assert first.wake_at == T0 + TEN_MINUTES
        else:
            assert first.reason is HoldReason.ANALYSIS_INCONCLUSIVE
            assert first.wake_at is None
    # The promotion never waits: it settles at once.
    promotion = gates.promotion(spec_, current)
    assert not (isinstance(promotion, Hold) and promotion.reason is HoldReason.ANALYSIS_RUNNING)
