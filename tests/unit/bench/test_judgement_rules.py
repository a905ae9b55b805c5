"""Flagger's and Argo's counting on hand-made streams, and each rule's critical value."""

from __future__ import annotations

import numpy as np
import pytest

from e2e.bench.judgement.judges import (
    Family,
    IntervalRule,
    argo_default,
    flagger_default,
)
from e2e.bench.judgement.traffic import LOOK, LOOKS, Case, Scenario, Stream, Traffic, simulate

pytestmark = pytest.mark.unit


def stream(canary: list[tuple[int, int]]) -> Stream:
    """One run: (canary requests, canary bad) per look, the rest of the horizon quiet."""
    n = np.zeros((1, LOOKS), dtype=int)
    k = np.zeros((1, LOOKS), dtype=int)
    for look, (served, bad) in enumerate(canary):
        n[0, look], k[0, look] = served, bad
    n[0, len(canary) :] = 100
    return Stream(n_c=n, k_c=k, n_s=np.full_like(n, 400), k_s=np.zeros_like(n))


def rule(family: Family, *, interval: int = LOOK, failures: int = 1) -> IntervalRule:
    return IntervalRule(family=family, interval=interval, failures=failures, max_error=0.05)


def test_the_documented_settings_are_the_documented_ones() -> None:
    flagger, argo = flagger_default(), argo_default()
    assert (flagger.family, flagger.interval, flagger.failures) == (Family.FLAGGER, 60, 1)
    assert flagger.max_error == pytest.approx(0.01)  # the docs' min: 99, not a default
    assert (argo.family, argo.interval, argo.failures) == (Family.ARGO, 300, 4)  # limit 3
    assert argo.max_error == pytest.approx(0.05)


def test_a_check_fails_only_above_the_threshold_and_counts_at_its_end() -> None:
    at_threshold = stream([(100, 5)])
    above = stream([(100, 0), (100, 6)])
    assert not rule(Family.FLAGGER).judge(at_threshold).rolled_back[0]
    outcome = rule(Family.FLAGGER).judge(above)
    assert outcome.seconds[0] == 2 * LOOK
    assert outcome.requests[0] == 200  # canary requests served up to that check


def test_failed_checks_count_in_total_not_consecutively() -> None:
    spread = stream([(100, 9), (100, 0), (100, 0), (100, 9)])
    outcome = rule(Family.FLAGGER, failures=2).judge(spread)
    assert outcome.seconds[0] == 4 * LOOK


def test_a_check_covers_the_whole_interval() -> None:
    # 6 bad of 300 is 2 %: the 30 s check passes though one 10 s look had 6 %.
    run = stream([(100, 6), (100, 0), (100, 0)])
    assert not rule(Family.FLAGGER, interval=3 * LOOK).judge(run).rolled_back[0]
    assert rule(Family.FLAGGER, interval=LOOK).judge(run).rolled_back[0]


def test_flagger_fails_a_check_without_canary_requests() -> None:
    empty = stream([(0, 0)])
    assert rule(Family.FLAGGER).judge(empty).seconds[0] == LOOK
    assert not rule(Family.ARGO).judge(empty).rolled_back[0]


def test_argo_aborts_after_more_than_four_errors_in_a_row_counting_the_first() -> None:
    # The immediate measurement is the first error, so four empty checks abort.
    assert rule(Family.ARGO).judge(stream([(0, 0)] * 4)).seconds[0] == 4 * LOOK
    assert not rule(Family.ARGO).judge(stream([(0, 0)] * 3)).rolled_back[0]


def test_argo_tolerates_failure_limit_failures_and_fails_on_the_next() -> None:
    three = stream([(100, 9)] * 3)
    four = stream([(100, 9)] * 4)
    assert not rule(Family.ARGO, failures=4).judge(three).rolled_back[0]
    assert rule(Family.ARGO, failures=4).judge(four).seconds[0] == 4 * LOOK


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize(("interval", "failures"), [(10, 1), (30, 2), (60, 3)])
def test_the_critical_value_says_exactly_which_thresholds_roll_back(
    family: Family, interval: int, failures: int
) -> None:
    low = Traffic(rps=10, share=0.05, p0=0.01)  # sparse: checks without data happen
    runs = simulate(Case(traffic=low, ratio=1.0), 300, np.random.default_rng(9), Scenario.BURST)
    base = IntervalRule(family=family, interval=interval, failures=failures, max_error=0.0)
    critical = base.critical(runs)
    for max_error in (0.0, 0.02, 0.1, 0.25, 0.5, 0.99):
        judged = IntervalRule(
            family=family, interval=interval, failures=failures, max_error=max_error
        ).judge(runs)
        assert (judged.rolled_back == (max_error < critical)).all()
