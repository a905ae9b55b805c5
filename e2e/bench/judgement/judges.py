"""The judges, run on simulated streams: ours, the oracle two-arm SPRT, threshold rules.

Each returns, per run, when it rolled the canary back (seconds since the canary
started, and canary requests served by then), or nothing if it did not within
the horizon. All of them see the same look windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from controller.judge.sequential import Config, State, Verdict, Window, update
from e2e.bench.judgement.traffic import LOOK, LOOKS, Array, Stream

ALPHA, BETA, MIN_RATIO = 0.01, 0.1, 1.5
ARGO_CONSECUTIVE_ERROR_LIMIT = 4
"""Argo's default ``consecutiveErrorLimit``: more query errors in a row than this abort."""


@dataclass(frozen=True, kw_only=True)
class Outcomes:
    """Per run: seconds and canary requests to the rollback decision, NaN if none."""

    seconds: Array
    requests: Array

    @property
    def rolled_back(self) -> Array:
        return ~np.isnan(self.seconds)

    @property
    def rate(self) -> float:
        return float(self.rolled_back.mean()) if self.seconds.size else 0.0


def _outcomes(hit: Array, times: Array, served: Array) -> Outcomes:
    """The first True of each row of ``hit`` (runs, checks) as a decision."""
    first = hit.argmax(axis=1)
    caught = hit[np.arange(hit.shape[0]), first]
    requests = np.take_along_axis(served, first[:, None], axis=1)[:, 0]
    return Outcomes(
        seconds=np.where(caught, times[first], np.nan).astype(float),
        requests=np.where(caught, requests, np.nan).astype(float),
    )


def ours(stream: Stream, config: Config | None = None) -> Outcomes:
    """:mod:`controller.judge.sequential` as the controller drives it.

    One update per look with that look's counts; a passed canary keeps being
    judged until promotion (the controller reopens the verdict at every look,
    ``core.folding._state``), so only a Fail ends a run early. Looks without bad
    events leave the test where it is, so they are skipped.
    """
    config = config or Config(alpha=ALPHA, beta=BETA, min_ratio=MIN_RATIO)
    seconds = np.full(stream.runs, np.nan)
    requests = np.full(stream.runs, np.nan)
    served = np.cumsum(stream.n_c, axis=1)
    for run in range(stream.runs):
        state = State()
        for look in np.nonzero(stream.k_c[run] + stream.k_s[run])[0]:
            window = Window(
                canary_requests=float(stream.n_c[run, look]),
                canary_bad=float(stream.k_c[run, look]),
                stable_requests=float(stream.n_s[run, look]),
                stable_bad=float(stream.k_s[run, look]),
            )
            state = update(replace(state, verdict=Verdict.UNDECIDED), window, config)
            if state.verdict is Verdict.FAIL:
                seconds[run], requests[run] = (look + 1) * LOOK, served[run, look]
                break
    return Outcomes(seconds=seconds, requests=requests)


def oracle(stream: Stream, ratio: float) -> Outcomes:
    """Wald's two-arm SPRT of r = 1 against the true r, on the same looks.

    It knows the ratio but not the stable's rate: per look it conditions on the
    bad events, each the canary's with probability ``rho = r s / (r s + 1 - s)``
    (``s`` that look's canary share), and stops at Wald's boundaries
    ``ln((1 - beta) / alpha)`` (rollback) or ``ln(beta / (1 - alpha))``.
    """
    total = stream.n_c + stream.n_s
    share = np.clip(stream.n_c / np.maximum(total, 1), 1e-9, 1 - 1e-9)
    rho = ratio * share / (ratio * share + 1 - share)
    step = stream.k_c * np.log(rho / share) + stream.k_s * np.log((1 - rho) / (1 - share))
    walk = np.cumsum(step, axis=1)
    upper, lower = math.log((1 - BETA) / ALPHA), math.log(BETA / (1 - ALPHA))
    crossed = (walk >= upper) | (walk <= lower)
    first = crossed.argmax(axis=1)
    stopped = crossed[np.arange(stream.runs), first]
    hit = np.zeros_like(crossed)
    hit[np.arange(stream.runs), first] = stopped & (walk[np.arange(stream.runs), first] >= upper)
    times = (np.arange(LOOKS) + 1) * LOOK
    return _outcomes(hit, times, np.cumsum(stream.n_c, axis=1))


class Family(StrEnum):
    FLAGGER = "flagger"
    ARGO = "argo"


@dataclass(frozen=True, kw_only=True)
class IntervalRule:
    """A success-rate check of the canary every ``interval``, a budget of failed checks.

    A check covers the canary's requests since the previous one and fails when
    their bad fraction exceeds ``max_error`` (``1 - `` the minimum success rate).

    * Flagger: checks at ``interval``, ``2 interval`` ...; a check without canary
      requests fails (no data is a failed check); rollback when failed checks,
      counted in total, reach ``failures`` (its ``threshold``).
    * Argo: a measurement at once, then every ``interval``; the metric fails when
      failed measurements exceed ``failureLimit`` = ``failures - 1``. A measurement
      without canary requests (the first one always) is an error, not a failure;
      more than ``ARGO_CONSECUTIVE_ERROR_LIMIT`` in a row abort the rollout.
    """

    family: Family
    interval: int
    failures: int
    max_error: float

    def __post_init__(self) -> None:
        if self.interval % LOOK or self.interval <= 0:
            raise ValueError(f"interval must be a positive multiple of {LOOK} s")
        if self.failures < 1:
            raise ValueError("failures must be at least 1")

    @property
    def label(self) -> str:
        return f"{self.interval}s x{self.failures} >={1 - self.max_error:.2%}"

    def _checks(self, stream: Stream) -> tuple[Array, Array, Array]:
        """Per check: canary requests, bad fraction (NaN: no data), canary served so far."""
        per = self.interval // LOOK
        checks = LOOKS // per
        shape = (stream.runs, checks, per)
        n = stream.n_c[:, : checks * per].reshape(shape).sum(axis=2)
        k = stream.k_c[:, : checks * per].reshape(shape).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        return n, error, np.cumsum(n, axis=1)

    def _aborted(self, no_data: Array) -> Array:
        """Argo: where the consecutive errors (the immediate measurement first) exceed the limit."""
        if self.family is Family.FLAGGER:
            return np.zeros_like(no_data)
        streak = np.ones(no_data.shape[0])
        aborted = np.zeros_like(no_data)
        for check in range(no_data.shape[1]):
            streak = np.where(no_data[:, check], streak + 1, 0)
            aborted[:, check] = streak > ARGO_CONSECUTIVE_ERROR_LIMIT
        return aborted

    def judge(self, stream: Stream) -> Outcomes:
        n, error, served = self._checks(stream)
        no_data = n == 0
        failed = np.nan_to_num(error, nan=-1.0) > self.max_error
        if self.family is Family.FLAGGER:
            failed |= no_data
        hit = (np.cumsum(failed, axis=1) >= self.failures) | self._aborted(no_data)
        times = (np.arange(n.shape[1]) + 1) * self.interval
        return _outcomes(hit, times, served)

    def critical(self, stream: Stream) -> Array:
        """Per run, the value ``v``: the rule rolls the run back iff ``max_error < v``.

        ``+inf``: it rolls back whatever the threshold (missing data alone does);
        ``-inf``: never (too few checks with data).
        """
        n, error, _ = self._checks(stream)
        no_data = n == 0
        ranked = -np.sort(-np.nan_to_num(error, nan=-np.inf), axis=1)  # descending
        needed = np.full(stream.runs, self.failures)
        if self.family is Family.FLAGGER:
            needed = needed - no_data.sum(axis=1)
        index = np.clip(needed - 1, 0, ranked.shape[1] - 1)
        value = np.take_along_axis(ranked, index[:, None], axis=1)[:, 0]
        value = np.where(needed > ranked.shape[1], -np.inf, value)
        return np.where((needed <= 0) | self._aborted(no_data).any(axis=1), np.inf, value)


def flagger_default(max_error: float = 0.01) -> IntervalRule:
    """Flagger's defaults: interval 1 m, threshold 1. The metric's range has no default;
    ``min: 99`` is the docs' example for request-success-rate."""
    return IntervalRule(family=Family.FLAGGER, interval=60, failures=1, max_error=max_error)


def argo_default(max_error: float = 0.05) -> IntervalRule:
    """Argo's docs example (its only defaults are failureLimit 0 and one measurement):
    interval 5 m, ``result[0] >= 0.95``, failureLimit 3, i.e. the 4th failure fails."""
    return IntervalRule(family=Family.ARGO, interval=300, failures=4, max_error=max_error)


def one_arm_bound(p0: float, p1: float) -> float:
    """Wald's E[N] for the one-arm SPRT of p1 vs a *known* p0 (canary requests)."""
    if p1 <= p0:
        return math.inf
    return _wald_information() / _kl(p1, p0)


def two_arm_bound(p0: float, p1: float, share: float) -> float:
    """Wald's E[N] (canary requests) for the conditional two-arm SPRT with a known share."""
    if p1 <= p0:
        return math.inf
    rho1 = p1 * share / (p1 * share + p0 * (1 - share))
    bad_events = _wald_information() / _kl(rho1, share)
    return bad_events / (p1 + p0 * (1 - share) / share)


def _kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q)) if p < 1 else -math.log(q)


def _wald_information() -> float:
    upper, lower = math.log((1 - BETA) / ALPHA), math.log(BETA / (1 - ALPHA))
    return (1 - BETA) * upper + BETA * lower
