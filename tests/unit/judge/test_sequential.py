"""The sequential canary-vs-stable test: error rates honoured, regressions caught."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as s

from controller.judge.sequential import (
    _FORMER_LOG_PRIOR,
    _LOG_PRIOR,
    CORE_HIGH,
    CORE_MASS,
    GRID_POINTS,
    Config,
    State,
    Verdict,
    Window,
    evidence,
    mixture_log,
    more_canary_requests_needed,
    ratio_grid,
    update,
)


def binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def run(
    *,
    rng: random.Random,
    p_stable: float,
    ratio: float,
    rps: int,
    share: float,
    seconds: int,
    config: Config,
) -> tuple[Verdict, float]:
    """Feed one-second windows until a verdict; return it and the canary requests used."""
    state = State()
    for _ in range(seconds):
        n_c = binomial(rng, rps, share)
        n_s = rps - n_c
        window = Window(
            canary_requests=n_c,
            canary_bad=binomial(rng, n_c, min(1.0, p_stable * ratio)),
            stable_requests=n_s,
            stable_bad=binomial(rng, n_s, p_stable),
        )
        state = update(state, window, config)
        if state.verdict is not Verdict.UNDECIDED:
            break
    return state.verdict, state.canary_requests


def test_no_worse_canary_is_rarely_rolled_back() -> None:
    rng = random.Random(7)
    config = Config(alpha=0.05)
    runs = 300
    fails = sum(
        run(rng=rng, p_stable=0.05, ratio=1.0, rps=40, share=0.3, seconds=300, config=config)[0]
        is Verdict.FAIL
        for _ in range(runs)
    )
    # Ville's bound holds over any number of looks: expect at most alpha (+ noise).
    assert fails / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)


def test_a_twice_as_bad_canary_is_caught() -> None:
    rng = random.Random(11)
    config = Config()
    outcomes = [
        run(rng=rng, p_stable=0.02, ratio=2.0, rps=100, share=0.2, seconds=600, config=config)
        for _ in range(40)
    ]
    caught = sum(verdict is Verdict.FAIL for verdict, _ in outcomes)
    assert caught >= 36


def test_an_outage_is_caught_within_a_few_dozen_canary_requests() -> None:
    rng = random.Random(3)
    verdict, used = run(
        rng=rng, p_stable=0.001, ratio=500.0, rps=100, share=0.05, seconds=60, config=Config()
    )
    assert verdict is Verdict.FAIL
    assert used <= 60


def test_a_healthy_canary_passes_early() -> None:
    rng = random.Random(5)
    verdict, _ = run(
        rng=rng, p_stable=0.05, ratio=1.0, rps=200, share=0.5, seconds=600, config=Config()
    )
    assert verdict is Verdict.PASS


@given(
    windows=s.lists(
        s.tuples(s.integers(1, 500), s.integers(0, 20), s.integers(1, 500), s.integers(0, 20)),
        min_size=1,
        max_size=20,
    ),
    extra=s.integers(1, 10),
)
@settings(max_examples=200, deadline=None)
def test_more_canary_errors_never_weaken_the_evidence(
    windows: list[tuple[int, int, int, int]], extra: int
) -> None:
    config = Config()
    plain = worse = State()
    for n_c, raw_k_c, n_s, raw_k_s in windows:
        k_c, k_s = min(raw_k_c, n_c), min(raw_k_s, n_s)
        plain = update(plain, Window(canary_requests=n_c, canary_bad=k_c, stable_requests=n_s,
                                     stable_bad=k_s), config)  # fmt: skip
        bumped = min(n_c, k_c + extra)
        worse = update(worse, Window(canary_requests=n_c, canary_bad=bumped, stable_requests=n_s,
                                     stable_bad=k_s), config)  # fmt: skip
    if plain.verdict is Verdict.UNDECIDED and worse.verdict is Verdict.UNDECIDED:
        assert evidence(worse) >= evidence(plain) * (1 - 1e-9)
    assert not (plain.verdict is Verdict.FAIL and worse.verdict is Verdict.PASS)


def test_windows_without_bad_events_carry_no_evidence() -> None:
    config = Config()
    state = update(State(), Window(canary_requests=50, canary_bad=3, stable_requests=50,
                                   stable_bad=1), config)  # fmt: skip
    quiet = update(state, Window(canary_requests=500, canary_bad=0, stable_requests=500,
                                 stable_bad=0), config)  # fmt: skip
    assert quiet.log_lr == state.log_lr
    assert quiet.canary_requests == 550


def test_a_verdict_is_final() -> None:
    config = Config()
    state = State()
    for _ in range(50):
        state = update(state, Window(canary_requests=10, canary_bad=5, stable_requests=10,
                                     stable_bad=0), config)  # fmt: skip
    assert state.verdict is Verdict.FAIL
    healed = update(state, Window(canary_requests=10_000, canary_bad=0, stable_requests=10,
                                  stable_bad=10), config)  # fmt: skip
    assert healed.verdict is Verdict.FAIL


def test_undecided_tests_estimate_how_many_more_requests_they_need() -> None:
    config = Config()
    state = update(State(), Window(canary_requests=100, canary_bad=1, stable_requests=900,
                                   stable_bad=9), config)  # fmt: skip
    needed = more_canary_requests_needed(state, config)
    assert needed is not None
    assert needed > 100


def test_the_grid_fits_the_status_and_the_prior_is_a_distribution() -> None:
    config = Config()
    grid = ratio_grid(config)
    assert len(grid) == GRID_POINTS <= 64
    assert math.isclose(grid[0], config.min_ratio)
    assert grid[-1] >= 500
    assert math.isclose(sum(math.exp(w) for w in _LOG_PRIOR), 1.0)
    # Most of the mass on the subtle regressions, min_ratio .. 1.5 * min_ratio.
    high = CORE_HIGH * config.min_ratio * (1 + 1e-9)
    core = sum(math.exp(w) for r, w in zip(grid, _LOG_PRIOR, strict=True) if r <= high)
    assert math.isclose(core, CORE_MASS)
    # The length tells a state of this grid from one of the former 64-point grid.
    assert GRID_POINTS != len(_FORMER_LOG_PRIOR) == 64
    assert math.isclose(sum(math.exp(w) for w in _FORMER_LOG_PRIOR), 1.0)


def test_a_state_from_the_former_16_point_grid_keeps_its_evidence() -> None:
    config = Config()
    legacy = State(log_lr=tuple(0.5 * j for j in range(16)), canary_requests=100,
                   canary_bad=5, stable_requests=100, stable_bad=1)  # fmt: skip
    before = mixture_log(legacy.log_lr)
    # A window without bad events moves nothing: the evidence carries over intact.
    quiet = update(legacy, Window(canary_requests=10, canary_bad=0, stable_requests=10,
                                  stable_bad=0), config)  # fmt: skip
    assert len(quiet.log_lr) == GRID_POINTS
    assert math.isclose(mixture_log(quiet.log_lr), before)
    assert math.isclose(evidence(quiet), evidence(legacy))
    # Then it is the old value times a fresh mixture over the new windows.
    window = Window(canary_requests=50, canary_bad=4, stable_requests=50, stable_bad=1)
    carried = update(legacy, window, config)
    fresh = update(State(), window, config)
    assert len(carried.log_lr) == GRID_POINTS
    assert math.isclose(mixture_log(carried.log_lr), before + mixture_log(fresh.log_lr))


def test_a_legacy_state_that_already_crossed_fails_on_its_next_bad_event() -> None:
    config = Config()
    legacy = State(log_lr=tuple(10.0 for _ in range(16)))
    state = update(legacy, Window(canary_requests=10, canary_bad=0, stable_requests=10,
                                  stable_bad=1), config)  # fmt: skip
    assert state.verdict is Verdict.FAIL


def test_a_state_from_the_former_64_point_grid_keeps_its_evidence() -> None:
    config = Config()
    former = State(log_lr=tuple(0.1 * j - 2.0 for j in range(64)))
    before = mixture_log(former.log_lr)
    weights = [math.exp(w) for w in _FORMER_LOG_PRIOR]
    assert math.isclose(before, math.log(sum(w * math.exp(0.1 * j - 2.0)
                                             for j, w in enumerate(weights))))  # fmt: skip
    window = Window(canary_requests=50, canary_bad=4, stable_requests=50, stable_bad=1)
    carried = update(former, window, config)
    fresh = update(State(), window, config)
    assert len(carried.log_lr) == GRID_POINTS
    assert math.isclose(mixture_log(carried.log_lr), before + mixture_log(fresh.log_lr))
