"""The guard's test (controller.judge.baseline): its bound, its false-rollback rate, its power."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from controller.judge import baseline
from controller.judge.sequential import Config, Verdict, Window, ratio_grid

CONFIG = Config(alpha=0.01, beta=0.1, min_ratio=1.5)


@given(
    requests=st.integers(min_value=1, max_value=10**7),
    share=st.floats(min_value=0, max_value=1),
    alpha=st.floats(min_value=1e-4, max_value=0.4),
)
def test_the_upper_bound_is_above_the_rate_and_below_one(
    requests: int, share: float, alpha: float
) -> None:
    bad = math.floor(requests * share)
    bound = baseline.upper_bound(baseline.Baseline(requests=requests, bad=bad), alpha)
    assert bound is not None
    assert min(bad / requests, 1 - 1e-12) <= bound < 1  # a baseline failing every request


def test_no_baseline_has_no_bound() -> None:
    assert baseline.upper_bound(baseline.Baseline(requests=0, bad=0), 0.01) is None


def _run(rng: random.Random, p_base: float, p_new: float, looks: int, per_look: int) -> bool:
    """One guard: True when it rolls back."""
    base_n = 6000
    base_bad = sum(rng.random() < p_base for _ in range(base_n))
    prior = baseline.Baseline(requests=base_n, bad=base_bad)
    state = baseline.State()
    for _ in range(looks):
        bad = sum(rng.random() < p_new for _ in range(per_look))
        window = Window(canary_requests=per_look, canary_bad=bad, stable_requests=0, stable_bad=0)
        state = baseline.update(state, window, prior, CONFIG)
        if state.verdict is Verdict.FAIL:
            return True
    return False


def test_a_new_stable_as_good_as_the_baseline_is_rarely_rolled_back() -> None:
    rng = random.Random(7)
    runs = 300
    rollbacks = sum(_run(rng, 0.02, 0.02, looks=30, per_look=100) for _ in range(runs))
    # alpha = 1 %: 3 expected at most; 8 would be a 1-in-1000 event at that rate.
    assert rollbacks <= 8, rollbacks


def test_a_three_times_worse_new_stable_is_caught() -> None:
    rng = random.Random(11)
    runs = 100
    caught = sum(_run(rng, 0.02, 0.06, looks=30, per_look=100) for _ in range(runs))
    assert caught >= 95, caught


def test_a_decided_guard_stays_decided() -> None:
    prior = baseline.Baseline(requests=1000, bad=10)
    bad = Window(canary_requests=1000, canary_bad=300, stable_requests=0, stable_bad=0)
    state = baseline.update(baseline.State(), bad, prior, CONFIG)
    assert state.verdict is Verdict.FAIL
    good = Window(canary_requests=10**6, canary_bad=0, stable_requests=0, stable_bad=0)
    assert baseline.update(state, good, prior, CONFIG).verdict is Verdict.FAIL
    assert baseline.evidence(state) >= 2 / CONFIG.alpha


def test_a_guard_state_from_the_former_grid_keeps_its_evidence() -> None:
    """A guard running across an upgrade of the judge's grid is carried over, not restarted."""
    former = baseline.State(log_lr=tuple(0.05 * j for j in range(64)), requests=100, bad=2)
    before = baseline.evidence(former)
    assert before > 1
    prior = baseline.Baseline(requests=10_000, bad=100)
    quiet = baseline.update(
        former,
        Window(canary_requests=0, canary_bad=0, stable_requests=0, stable_bad=0),
        prior,
        CONFIG,
    )
    assert len(quiet.log_lr) == len(ratio_grid(CONFIG))
    assert math.isclose(baseline.evidence(quiet), before)
