"""Canary vs stable on bad-event counts: an always-valid sequential test.

The observation is, per window, how many requests each revision served and how
many of them were *bad* (an error, or slower than a latency bound). If bad
events are rare, then given ``K`` bad events in a window, each is the canary's
with probability ``rho = r*s / (r*s + 1 - s)``, where ``s`` is the canary's share
of that window's requests and ``r`` the ratio of the canary's bad rate to the
stable's. "No worse" is ``r = 1``; conditioning on each window's own share lets
the weight change from step to step without biasing anything.

Two tests run side by side on the same counts, each a likelihood-ratio
martingale, so looking after every scrape never inflates the error rates
(Ville's inequality):

* **fail** — a mixture over ``r`` on a log-spaced grid from ``min_ratio`` up,
  weights ``w_j`` proportional to ``1/(j+1)`` (more prior mass on the subtle
  regressions, which need it; gross ones win by a mile anyway):
  ``Lambda = sum_j w_j prod_i L_i(r_j) / L_i(1)``; the canary is declared worse
  when ``Lambda >= 1/alpha``. Under ``r <= 1`` this happens with probability at
  most ``alpha`` however long the test runs.
* **pass** — ``prod_i L_i(1) / L_i(min_ratio)`` against the point
  ``r = min_ratio``; the canary is declared good enough when it reaches
  ``1/beta``: a canary ``min_ratio`` times worse is waved through with
  probability at most ``beta``.

The state is a handful of floats, kept in the Rollout's status so a restarted
controller continues the same test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

GRID_POINTS = 16
MAX_RATIO = 64.0


class Verdict(StrEnum):
    UNDECIDED = "Undecided"
    PASS = "Pass"  # noqa: S105 - a verdict, not a password
    FAIL = "Fail"


@dataclass(frozen=True, kw_only=True)
class Window:
    """Counts of one revision pair over the same time window (increments, not totals)."""

    canary_requests: float
    canary_bad: float
    stable_requests: float
    stable_bad: float


@dataclass(frozen=True, kw_only=True)
class Config:
    alpha: float = 0.01
    """Chance of rolling back a canary that is no worse (false rollback)."""
    beta: float = 0.1
    """Chance of passing a canary that is ``min_ratio`` times worse."""
    min_ratio: float = 1.5
    """The smallest regression worth catching: canary bad rate / stable bad rate."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError("alpha and beta must be in (0, 1)")
        if self.min_ratio <= 1:
            raise ValueError("min_ratio must be above 1")


def ratio_grid(config: Config) -> list[float]:
    """Alternatives the fail test mixes over: log-spaced from min_ratio to MAX_RATIO."""
    low, high = math.log(config.min_ratio), math.log(MAX_RATIO)
    step = (high - low) / (GRID_POINTS - 1)
    return [math.exp(low + step * j) for j in range(GRID_POINTS)]


def _rho(ratio: float, share: float) -> float:
    return ratio * share / (ratio * share + 1 - share)


@dataclass(frozen=True, kw_only=True)
class State:
    """Everything the test remembers between looks (stored in the status)."""

    log_lr: tuple[float, ...] = field(default=())
    """Per grid alternative, log prod L(r_j)/L(1)."""
    pass_log_lr: float = 0.0
    """log prod L(1)/L(min_ratio)."""
    canary_requests: float = 0.0
    canary_bad: float = 0.0
    stable_requests: float = 0.0
    stable_bad: float = 0.0
    verdict: Verdict = Verdict.UNDECIDED


def update(state: State, window: Window, config: Config) -> State:
    """Fold one window into the test. Windows without bad events carry no information."""
    grid = ratio_grid(config)
    log_lr = state.log_lr or tuple(0.0 for _ in grid)
    total = window.canary_requests + window.stable_requests
    bad = window.canary_bad + window.stable_bad
    counts = {
        "canary_requests": state.canary_requests + window.canary_requests,
        "canary_bad": state.canary_bad + window.canary_bad,
        "stable_requests": state.stable_requests + window.stable_requests,
        "stable_bad": state.stable_bad + window.stable_bad,
    }
    if total <= 0 or bad <= 0 or state.verdict is not Verdict.UNDECIDED:
        return State(log_lr=log_lr, pass_log_lr=state.pass_log_lr, verdict=state.verdict, **counts)
    share = min(max(window.canary_requests / total, 1e-9), 1 - 1e-9)
    k_c, k_s = window.canary_bad, window.stable_bad

    def log_l(ratio: float) -> float:
        rho = _rho(ratio, share)
        return k_c * math.log(rho) + k_s * math.log(1 - rho)

    null = log_l(1.0)
    log_lr = tuple(s + log_l(r) - null for s, r in zip(log_lr, grid, strict=True))
    pass_log_lr = state.pass_log_lr + null - log_l(config.min_ratio)
    verdict = Verdict.UNDECIDED
    if mixture_log(log_lr) >= math.log(1 / config.alpha):
        verdict = Verdict.FAIL
    elif pass_log_lr >= math.log(1 / config.beta):
        verdict = Verdict.PASS
    return State(log_lr=log_lr, pass_log_lr=pass_log_lr, verdict=verdict, **counts)


def _log_weights(points: int) -> tuple[float, ...]:
    raw = [1 / (j + 1) for j in range(points)]
    total = sum(raw)
    return tuple(math.log(w / total) for w in raw)


def mixture_log(log_lr: tuple[float, ...]) -> float:
    """log of the weighted mixture of the grid's likelihood ratios (log-sum-exp)."""
    if not log_lr:
        return 0.0
    terms = [x + w for x, w in zip(log_lr, _log_weights(len(log_lr)), strict=True)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def evidence(state: State) -> float:
    """The fail test's mixture likelihood ratio (>= 1/alpha means the canary is worse)."""
    return math.exp(min(mixture_log(state.log_lr), 700.0))


def more_canary_requests_needed(state: State, config: Config) -> int | None:
    """Roughly how many more canary requests a decision needs, or None if unknown.

    Wald's approximation for the nearer boundary at ``r = min_ratio``: the
    remaining log-evidence divided by the expected gain per bad event, times the
    canary requests per bad event seen so far.
    """
    if state.verdict is not Verdict.UNDECIDED or state.stable_requests <= 0:
        return None
    total = state.canary_requests + state.stable_requests
    bad = state.canary_bad + state.stable_bad
    if bad <= 0 or state.canary_requests <= 0:
        return None
    share = state.canary_requests / total
    rho0, rho1 = share, _rho(config.min_ratio, share)
    kl = rho1 * math.log(rho1 / rho0) + (1 - rho1) * math.log((1 - rho1) / (1 - rho0))
    fail_gap = math.log(1 / config.alpha) - mixture_log(state.log_lr)
    pass_gap = math.log(1 / config.beta) - state.pass_log_lr
    bad_events = max(0.0, min(fail_gap, pass_gap)) / kl
    canary_per_bad = state.canary_requests / bad
    return math.ceil(bad_events * canary_per_bad)
