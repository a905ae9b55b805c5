"""The fail test is a test martingale under "no worse": each look's factor has mean at most one.

Ville's inequality then bounds the chance of ever failing a canary that is no
worse by alpha, whatever the shares do from look to look. Checked exactly, per
factor, and by simulation with shares and base rates that move.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.judge.sequential import (
    Config,
    State,
    Verdict,
    Window,
    mixture_log,
    ratio_grid,
    update,
)

SHARES = (0.01, 0.05, 0.2, 0.5, 0.8, 0.99)
BAD_EVENTS = (1, 2, 5, 20, 60)


def _rho(ratio: float, share: float) -> float:
    return ratio * share / (ratio * share + 1 - share)


def _factors(k_c: int, k_s: int, share: float, config: Config) -> tuple[float, list[float]]:
    """One look's factors from a fresh state: the mixture's, and every alternative's."""
    window = Window(canary_requests=share, canary_bad=k_c, stable_requests=1 - share,
                    stable_bad=k_s)  # fmt: skip
    log_lr = update(State(), window, config).log_lr
    return math.exp(mixture_log(log_lr)), [math.exp(x) for x in log_lr]


def _binomial(k: int, n: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


@pytest.mark.parametrize("share", SHARES)
@pytest.mark.parametrize("bad", BAD_EVENTS)
@pytest.mark.parametrize("true_ratio", [1.0, 0.9, 0.5, 0.1])
def test_a_look_s_factor_has_mean_one_when_equal_and_below_one_when_better(
    share: float, bad: int, true_ratio: float
) -> None:
    """Exact expectation over the canary's share of ``bad`` events at a true ratio <= 1,
    for the mixture and for each of its alternatives."""
    config = Config()
    p = _rho(true_ratio, share)
    mixture, points = 0.0, [0.0] * len(ratio_grid(config))
    for k in range(bad + 1):
        chance = _binomial(k, bad, p)
        factor, each = _factors(k, bad - k, share, config)
        mixture += chance * factor
        points = [m + chance * f for m, f in zip(points, each, strict=True)]
    for mean in (mixture, *points):
        if true_ratio == 1.0:
            assert mean == pytest.approx(1.0, rel=1e-9)
        else:
            assert mean < 1.0


@pytest.mark.parametrize(("canary", "stable", "bad"), [(5, 95, 10), (20, 80, 30), (50, 50, 40),
                                                       (3, 7, 6), (200, 800, 25)])  # fmt: skip
def test_the_factor_has_mean_at_most_one_for_exact_counts(
    canary: int, stable: int, bad: int
) -> None:
    """With equal bad rates, the canary's share of the bad events is hypergeometric, not
    binomial; it is less spread, so the (convex) factor's mean is at most one (Hoeffding)."""
    config = Config()
    total = canary + stable
    share = canary / total
    mean = sum(
        math.comb(canary, k) * math.comb(stable, bad - k) / math.comb(total, bad)
        * _factors(k, bad - k, share, config)[0]
        for k in range(max(0, bad - stable), min(bad, canary) + 1)
    )  # fmt: skip
    assert mean <= 1.0 + 1e-12


def test_a_no_worse_canary_is_rarely_failed_while_shares_and_base_rates_move() -> None:
    """Shares step 5 -> 20 -> 50 %, the base rate swings and bursts; fails stay under alpha."""
    rng = np.random.default_rng(20261128)
    config = Config(alpha=0.05)
    runs, looks, fails = 300, 60, 0
    for _ in range(runs):
        state = State()
        for look in range(looks):
            share = (0.05, 0.2, 0.5)[min(2, look // 20)]
            base = 0.02 * (1 + 0.5 * math.sin(look / 7)) * (5 if 30 <= look < 33 else 1)
            requests = int(rng.integers(50, 400))
            n_c = int(rng.binomial(requests, share))
            k_c, k_s = (int(rng.binomial(n, base)) for n in (n_c, requests - n_c))
            window = Window(canary_requests=n_c, canary_bad=k_c, stable_requests=requests - n_c,
                            stable_bad=k_s)  # fmt: skip
            state = update(State(log_lr=state.log_lr), window, config)
            if state.verdict is Verdict.FAIL:
                fails += 1
                break
    # Ville's bound is alpha; a 3-sigma margin for 300 runs (seen: 7 of 300).
    assert fails / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
