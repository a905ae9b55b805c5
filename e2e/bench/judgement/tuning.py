"""Best-tuned threshold rules: schedule, failure budget and threshold chosen together.

For one service's traffic and one family (Flagger or Argo), every schedule in
``SCHEDULES`` (interval 10 / 30 / 60 s, 1-3 failed checks to roll back) gets
the most sensitive threshold whose false-rollback rate over the horizon is at
most alpha on simulated A/A streams of every calibration scenario; then the
schedule that catches a 2x regression with the fewest canary requests (median,
among those catching at least 1 - beta of the runs; failing that, the one
catching most) is kept. All of it on the calibration seed's streams; the rules
are then judged on the evaluation seed's.

The threshold needs no search: each A/A run has a critical value ``v`` (it is
rolled back iff the threshold is below ``v``, :meth:`IntervalRule.critical`), so
the rule rolls back at most ``floor(alpha * runs)`` runs iff its threshold is at
least the next-largest ``v``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from e2e.bench.judgement.judges import BETA, Family, IntervalRule, Outcomes
from e2e.bench.judgement.traffic import Array, Stream

SCHEDULES = tuple((interval, failures) for interval in (10, 30, 60) for failures in (1, 2, 3))


def threshold(critical: Array, alpha: float) -> float | None:
    """The lowest ``max_error`` rolling back at most ``alpha`` of these runs (None: none does)."""
    allowed = math.floor(alpha * critical.size)
    if allowed >= critical.size:
        return 0.0
    value = float(-np.sort(-critical)[allowed])
    if value == math.inf:
        return None
    return max(value, 0.0)


def calibrate(rule: IntervalRule, aa: Iterable[Stream], alpha: float) -> IntervalRule | None:
    """``rule`` with the lowest threshold keeping A/A <= alpha on every stream given."""
    levels = [threshold(rule.critical(stream), alpha) for stream in aa]
    if any(level is None for level in levels):
        return None
    return replace(rule, max_error=max(level for level in levels if level is not None))


@dataclass(frozen=True, kw_only=True)
class Scored:
    rule: IntervalRule
    detect_rate: float
    median_requests: float


def score(rule: IntervalRule, regression: Stream) -> Scored:
    outcomes: Outcomes = rule.judge(regression)
    caught = outcomes.requests[outcomes.rolled_back]
    median = float(np.median(caught)) if caught.size else math.inf
    return Scored(rule=rule, detect_rate=outcomes.rate, median_requests=median)


def select(scored: Sequence[Scored]) -> Scored:
    """The fewest median requests among the reliable (>= 1 - beta), else the most caught."""
    if not scored:
        raise ValueError("no feasible schedule to choose from")
    reliable = [s for s in scored if s.detect_rate >= 1 - BETA]
    if reliable:
        return min(reliable, key=lambda s: (s.median_requests, s.rule.interval, s.rule.failures))
    return max(scored, key=lambda s: (s.detect_rate, -s.median_requests))


def best_tuned(
    family: Family, aa: Sequence[Stream], regression: Stream, alpha: float
) -> IntervalRule:
    """The family's best schedule and threshold for this traffic (see the module docstring)."""
    candidates = []
    for interval, failures in SCHEDULES:
        base = IntervalRule(family=family, interval=interval, failures=failures, max_error=0.0)
        rule = calibrate(base, aa, alpha)
        if rule is not None:
            candidates.append(score(rule, regression))
    return select(candidates).rule
