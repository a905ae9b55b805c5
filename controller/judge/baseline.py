"""The post-promotion guard's test: the new stable against the previous revision's baseline.

After promotion the previous revision serves nothing, so there is no concurrent
control. What is left is its *baseline*: the requests and bad requests it served
while the canary ran. The guard asks whether the new stable's bad rate exceeds
that baseline rate ``p0`` by ``min_ratio`` or more, with false-rollback rate
``alpha`` split in two halves:

* ``p0`` is not known, only estimated from ``k`` bad out of ``n``. The test runs
  against an upper confidence bound ``p0+`` (Chernoff: the largest ``p`` with
  ``n * KL(k/n || p) <= log(2/alpha)``), which is below the true rate with
  probability at most ``alpha/2``;
* against ``p0+``, a one-arm mixture likelihood-ratio test over ratios ``r`` on
  the judge's grid: for ``K`` bad of ``N`` requests in a window,
  ``log L(r) = K log r + (N-K) log((1 - r p0+) / (1 - p0+))``. While the true
  rate is at most ``p0+`` each factor has mean at most one, so the mixture is a
  supermartingale and crosses ``2/alpha`` with probability at most ``alpha/2``,
  however often the guard looks (Ville's inequality).

So a new stable no worse than the previous revision is rolled back with
probability at most ``alpha``. A guard state written with an older grid (another
``log_lr`` length) is carried over as the canary's test carries it
(:func:`controller.judge.sequential.on_current_grid`): its mixture value seeds
the new grid, which keeps the supermartingale and its bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.judge import sequential
from controller.judge.sequential import (
    Config,
    Verdict,
    mixture_log,
    on_current_grid,
    ratio_grid,
)

__all__ = ["Baseline", "State", "evidence", "update", "upper_bound"]

_BISECTIONS = 64


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """What the previous revision served while the canary ran."""

    requests: float
    bad: float


@dataclass(frozen=True, kw_only=True)
class State:
    log_lr: tuple[float, ...] = ()
    requests: float = 0.0
    bad: float = 0.0
    verdict: Verdict = Verdict.UNDECIDED


def _kl(p: float, q: float) -> float:
    """Bernoulli KL(p || q) for q in (0, 1)."""
    out = 0.0
    if p > 0:
        out += p * math.log(p / q)
    if p < 1:
        out += (1 - p) * math.log((1 - p) / (1 - q))
    return out


def upper_bound(baseline: Baseline, alpha: float) -> float | None:
    """A rate the baseline's true rate exceeds with probability at most ``alpha``.

    None when the baseline served no requests (nothing to compare against).
    """
    n = baseline.requests
    if n <= 0:
        return None
    rate = min(max(baseline.bad / n, 0.0), 1.0)
    budget = math.log(1 / alpha) / n
    low, high = rate, 1.0
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        if mid >= 1.0:
            break
        if _kl(rate, mid) <= budget:
            low = mid
        else:
            high = mid
    return min(max(low, rate), 1 - 1e-12)


def update(state: State, window: sequential.Window, baseline: Baseline, config: Config) -> State:
    """Fold the new stable's counts (``window.canary_*``) into the guard's test."""
    grid = ratio_grid(config)
    # A state from an older grid carries its mixture value over, as the canary's test does.
    log_lr = on_current_grid(state.log_lr)
    n, k = window.canary_requests, min(window.canary_bad, window.canary_requests)
    requests, bad = state.requests + n, state.bad + k
    p0 = upper_bound(baseline, config.alpha / 2)
    if state.verdict is not Verdict.UNDECIDED or n <= 0 or p0 is None:
        return State(log_lr=log_lr, requests=requests, bad=bad, verdict=state.verdict)
    steps = []
    for ratio in grid:
        p1 = min(ratio * p0, 1 - 1e-12)
        steps.append(k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0)))
    log_lr = tuple(s + d for s, d in zip(log_lr, steps, strict=True))
    failed = mixture_log(log_lr) >= math.log(2 / config.alpha)
    return State(
        log_lr=log_lr,
        requests=requests,
        bad=bad,
        verdict=Verdict.FAIL if failed else Verdict.UNDECIDED,
    )


def evidence(state: State) -> float:
    """The mixture likelihood ratio (>= 2/alpha rolls back)."""
    return math.exp(min(mixture_log(state.log_lr), 700.0))
