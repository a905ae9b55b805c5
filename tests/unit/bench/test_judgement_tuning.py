"""Best-tuned rules: thresholds calibrated exactly, chosen on one seed, judged on another."""

from __future__ import annotations

import math

import numpy as np
import pytest

from e2e.bench.judgement.judges import BETA, Family, IntervalRule
from e2e.bench.judgement.traffic import Case, Scenario, Traffic, simulate
from e2e.bench.judgement.tuning import Scored, best_tuned, calibrate, select, threshold

pytestmark = pytest.mark.unit

TRAFFIC = Traffic(rps=100, share=0.2, p0=0.01)


def rule(interval: int, failures: int, max_error: float = 0.0) -> IntervalRule:
    return IntervalRule(
        family=Family.FLAGGER, interval=interval, failures=failures, max_error=max_error
    )


def test_the_threshold_lets_through_at_most_alpha_of_the_runs_and_no_lower_one_does() -> None:
    critical = np.array([0.01 * i for i in range(100)])
    level = threshold(critical, alpha=0.05)
    assert level is not None
    assert (critical > level).mean() <= 0.05
    assert (critical > level - 1e-9).mean() > 0.05


def test_no_threshold_exists_when_missing_data_alone_rolls_back_too_many() -> None:
    critical = np.array([math.inf] * 5 + [0.1] * 95)
    assert threshold(critical, alpha=0.01) is None
    assert threshold(critical, alpha=0.05) == pytest.approx(0.1)


def test_a_rule_that_never_fails_gets_the_most_sensitive_threshold() -> None:
    assert threshold(np.full(50, -math.inf), alpha=0.01) == 0.0


def test_calibration_under_several_scenarios_keeps_every_one_within_alpha() -> None:
    rng = np.random.default_rng(1)
    aa = [simulate(Case(traffic=TRAFFIC, ratio=1.0), 400, rng, s) for s in Scenario]
    tuned = calibrate(rule(60, 1), aa, alpha=0.01)
    assert tuned is not None
    for stream in aa:
        assert tuned.judge(stream).rate <= 0.01
    stationary_only = calibrate(rule(60, 1), aa[:1], alpha=0.01)
    assert stationary_only is not None
    assert stationary_only.max_error < tuned.max_error  # drift makes it more lenient


def test_the_fewest_requests_among_reliable_schedules_is_chosen() -> None:
    fast_unreliable = Scored(rule=rule(10, 1), detect_rate=1 - BETA - 0.01, median_requests=100)
    slow = Scored(rule=rule(60, 3), detect_rate=1.0, median_requests=900)
    fast = Scored(rule=rule(30, 2), detect_rate=1 - BETA, median_requests=500)
    assert select([fast_unreliable, slow, fast]).rule == fast.rule


def test_without_a_reliable_schedule_the_one_catching_most_is_chosen() -> None:
    a = Scored(rule=rule(10, 1), detect_rate=0.5, median_requests=100)
    b = Scored(rule=rule(60, 3), detect_rate=0.7, median_requests=900)
    assert select([a, b]).rule == b.rule
    with pytest.raises(ValueError, match="no feasible"):
        select([])


def test_rules_tuned_on_one_seed_keep_about_alpha_on_another() -> None:
    calibration, evaluation = np.random.default_rng(10), np.random.default_rng(11)
    aa = [simulate(Case(traffic=TRAFFIC, ratio=1.0), 1000, calibration, s) for s in Scenario]
    regression = simulate(Case(traffic=TRAFFIC, ratio=2.0), 200, calibration)
    tuned = best_tuned(Family.ARGO, aa, regression, alpha=0.01)
    again = best_tuned(Family.ARGO, aa, regression, alpha=0.01)
    assert tuned == again  # a function of the calibration streams only
    runs = 2000
    for scenario in Scenario:
        fresh = simulate(Case(traffic=TRAFFIC, ratio=1.0), runs, evaluation, scenario)
        # 0.01 plus three standard errors of the two estimates (calibration and this one).
        assert tuned.judge(fresh).rate <= 0.01 + 3 * math.sqrt(0.01 * 0.99 * (1 / 1000 + 1 / runs))
    caught = tuned.judge(simulate(Case(traffic=TRAFFIC, ratio=2.0), 200, evaluation))
    assert caught.rate >= 0.8
