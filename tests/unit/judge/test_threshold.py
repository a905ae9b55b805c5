"""Threshold rules count exactly as documented, and errors are never successes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as s

from controller.judge.threshold import (
    Condition,
    ErrorPolicy,
    NoDataPolicy,
    Outcome,
    Phase,
    Rule,
    Tally,
    classify,
    next_measurement,
    record,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ERROR_RATE_BELOW_5 = Rule(success=Condition.parse("< 0.05"))


def run(rule: Rule, values: Sequence[float | str | None]) -> Tally:
    """Feed measurements; the string "error" stands for a failed query."""
    tally = Tally(started_at=T0)
    for value in values:
        if value == "error":
            tally = record(rule, tally, classify(rule, None, error=True), None)
        else:
            assert not isinstance(value, str)
            tally = record(rule, tally, classify(rule, value), value)
    return tally


def test_failure_limit_is_exceeded_not_reached_as_in_argo() -> None:
    rule = Rule(success=Condition.parse("< 0.05"), failure_limit=3)
    assert run(rule, [0.2, 0.2, 0.2]).phase is Phase.RUNNING
    assert run(rule, [0.2, 0.2, 0.2, 0.2]).phase is Phase.FAILED


def test_default_failure_limit_fails_on_the_first_failure() -> None:
    assert run(ERROR_RATE_BELOW_5, [0.01, 0.3]).phase is Phase.FAILED


def test_both_conditions_leave_a_gap_that_is_inconclusive() -> None:
    rule = Rule(success=Condition.parse("< 0.01"), failure=Condition.parse("> 0.05"))
    assert classify(rule, 0.005) is Outcome.SUCCESSFUL
    assert classify(rule, 0.03) is Outcome.INCONCLUSIVE
    assert classify(rule, 0.2) is Outcome.FAILED
    assert run(rule, [0.03]).phase is Phase.INCONCLUSIVE  # inconclusive_limit 0


def test_failure_condition_alone_passes_everything_else() -> None:
    rule = Rule(failure=Condition.parse(">= 0.05"))
    assert classify(rule, 0.01) is Outcome.SUCCESSFUL
    assert classify(rule, 0.05) is Outcome.FAILED


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (NoDataPolicy.FAIL, Outcome.FAILED),
        (NoDataPolicy.INCONCLUSIVE, Outcome.INCONCLUSIVE),
        (NoDataPolicy.IGNORE, Outcome.IGNORED),
    ],
)
def test_no_data_follows_its_policy(policy: NoDataPolicy, outcome: Outcome) -> None:
    rule = Rule(success=Condition.parse("< 0.05"), no_data=policy)
    assert classify(rule, None) is outcome
    assert classify(rule, math.nan) is outcome


def test_a_run_of_query_errors_pauses_by_default_and_fails_when_asked() -> None:
    errors: list[float | str | None] = ["error"] * 5
    assert run(ERROR_RATE_BELOW_5, errors).phase is Phase.INCONCLUSIVE
    strict = Rule(success=Condition.parse("< 0.05"), on_error=ErrorPolicy.FAIL)
    assert run(strict, errors).phase is Phase.FAILED
    assert run(ERROR_RATE_BELOW_5, ["error"] * 4).phase is Phase.RUNNING  # limit is 4


def test_a_success_resets_consecutive_errors() -> None:
    values: list[float | str | None] = ["error", "error", "error", "error", 0.01]
    values += ["error"] * 4
    assert run(ERROR_RATE_BELOW_5, values).phase is Phase.RUNNING


@given(
    values=s.lists(s.one_of(s.just("error"), s.none(), s.just(math.nan)), min_size=1, max_size=30),
    count=s.integers(1, 10),
    policy=s.sampled_from([NoDataPolicy.IGNORE, NoDataPolicy.INCONCLUSIVE]),
)
def test_errors_and_missing_data_are_never_a_success(
    values: list[float | str | None], count: int, policy: NoDataPolicy
) -> None:
    rule = Rule(
        success=Condition.parse("< 0.05"),
        count=count,
        inconclusive_limit=100,
        consecutive_error_limit=100,
        no_data=policy,
    )
    assert run(rule, values).phase is not Phase.SUCCESSFUL


@given(values=s.lists(s.floats(0, 1), min_size=1, max_size=30), limit=s.integers(0, 5))
def test_final_phases_are_final(values: list[float], limit: int) -> None:
    rule = Rule(success=Condition.parse("< 0.05"), failure_limit=limit, count=10)
    tally = Tally(started_at=T0)
    seen_final: Phase | None = None
    for value in values:
        tally = record(rule, tally, classify(rule, value), value)
        if seen_final is not None:
            assert tally.phase is seen_final
        elif tally.phase is not Phase.RUNNING:
            seen_final = tally.phase
    assert tally.failed <= limit + 1


def test_count_successes_make_a_successful_metric() -> None:
    rule = Rule(success=Condition.parse("< 0.05"), count=3)
    assert run(rule, [0.01, 0.02, 0.0]).phase is Phase.SUCCESSFUL


def test_measurements_fall_due_every_interval_after_the_initial_delay() -> None:
    rule = Rule(
        success=Condition.parse("< 0.05"),
        interval=timedelta(seconds=30),
        initial_delay=timedelta(seconds=60),
    )
    tally = Tally(started_at=T0)
    assert next_measurement(rule, tally) == T0 + timedelta(seconds=60)
    tally = record(rule, tally, Outcome.SUCCESSFUL, 0.01)
    assert next_measurement(rule, tally) == T0 + timedelta(seconds=90)


@pytest.mark.parametrize("text", ["0.05", "<< 1", "< five", "> inf", "~ 3"])
def test_conditions_are_comparisons_never_expressions(text: str) -> None:
    with pytest.raises(ValueError, match=r"condition|threshold|operator"):
        Condition.parse(text)
