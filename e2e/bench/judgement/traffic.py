"""Simulated request streams on the controller's look grid, with or without drift.

Counts are drawn per look window (``LOOK`` seconds, the controller's default
analysis interval): ``rps * LOOK`` requests split binomially between canary and
stable by the share, then each revision's bad requests. A drift scenario moves
the *base* bad rate of both revisions alike (the canary's regression multiplies
the drifted base, an outage stays at ``OUTAGE``):

* ``stationary`` — the base rate stays ``p0``;
* ``step`` — it is ``(1 + STEP) * p0`` from the canary's start (a deploy of a
  dependency, a traffic mix change at the same moment);
* ``diurnal`` — ``p0 * (1 + DIURNAL * sin(phase + 2 pi t / day))`` with a random
  phase per run: the canary runs at a random time of day, so its base rate lies
  anywhere in ``p0 * [1 - DIURNAL, 1 + DIURNAL]`` (it barely moves within a run);
* ``burst`` — a dependency hiccup: for ``BURST_SECONDS`` starting at a uniform
  time in the first ``BURST_WITHIN`` seconds, both revisions fail at least
  ``BURST_RATE`` of their requests. Requests arrive uniformly, so a look window
  that overlaps a fraction ``f`` of the burst has ``Binomial(n, f)`` requests in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

LOOK = 10
"""Seconds between looks: the controller's default ``analysis.interval``. Counts are
read at each look as if a scrape had just happened (no scrape lag for anyone)."""
HORIZON = 1800
"""Every run lasts 30 minutes (the canary's time to promotion); not caught by then: missed."""
LOOKS = HORIZON // LOOK
OUTAGE = 0.5
STEP = 0.3
DIURNAL = 0.3
DAY = 86_400
BURST_SECONDS = 60
BURST_RATE = 0.1
BURST_WITHIN = 600

Array = np.ndarray[Any, Any]


class Scenario(StrEnum):
    STATIONARY = "stationary"
    STEP = "step"
    DIURNAL = "diurnal"
    BURST = "burst"


@dataclass(frozen=True, kw_only=True, order=True)
class Traffic:
    """A service's traffic during the canary: total rate, canary share, stable bad rate."""

    rps: int
    share: float
    p0: float

    @property
    def name(self) -> str:
        return f"{self.rps}rps/{self.share:.0%}/p0={self.p0:.1%}"


@dataclass(frozen=True, kw_only=True)
class Case:
    traffic: Traffic
    ratio: float | None
    """Canary bad rate / stable's; None: the 50 % outage; 1.0: A/A."""

    @property
    def p1(self) -> float:
        return OUTAGE if self.ratio is None else min(1.0, self.traffic.p0 * self.ratio)

    @property
    def name(self) -> str:
        what = "outage" if self.ratio is None else f"{self.ratio:g}x"
        return f"{self.traffic.name}/{what}"


@dataclass(frozen=True, kw_only=True)
class Stream:
    """Per-look counts of many runs: arrays of shape (runs, LOOKS)."""

    n_c: Array
    k_c: Array
    n_s: Array
    k_s: Array

    @property
    def runs(self) -> int:
        return int(self.n_c.shape[0])


def drift(scenario: Scenario, runs: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Per run and look window: the base rate's multiplier, and the burst's share of it."""
    ones, zeros = np.ones((runs, LOOKS)), np.zeros((runs, LOOKS))
    if scenario is Scenario.STATIONARY:
        return ones, zeros
    if scenario is Scenario.STEP:
        return ones * (1 + STEP), zeros
    if scenario is Scenario.DIURNAL:
        phase = rng.uniform(0, 2 * math.pi, size=(runs, 1))
        middle = (np.arange(LOOKS) + 0.5) * LOOK
        return 1 + DIURNAL * np.sin(phase + 2 * math.pi * middle / DAY), zeros
    start = rng.uniform(0, BURST_WITHIN, size=(runs, 1))
    low = np.arange(LOOKS)[None, :] * LOOK
    overlap = np.minimum(low + LOOK, start + BURST_SECONDS) - np.maximum(low, start)
    return ones, np.clip(overlap, 0, LOOK) / LOOK


def simulate(
    case: Case, runs: int, rng: np.random.Generator, scenario: Scenario = Scenario.STATIONARY
) -> Stream:
    traffic = case.traffic
    multiplier, burst = drift(scenario, runs, rng)
    n_c = rng.binomial(traffic.rps * LOOK, traffic.share, size=(runs, LOOKS))
    n_s = traffic.rps * LOOK - n_c
    stable = np.minimum(1.0, traffic.p0 * multiplier)
    canary = (
        np.full((runs, LOOKS), OUTAGE)
        if case.ratio is None
        else np.minimum(1.0, traffic.p0 * case.ratio * multiplier)
    )
    return Stream(
        n_c=n_c,
        k_c=_bad(n_c, canary, burst, rng),
        n_s=n_s,
        k_s=_bad(n_s, stable, burst, rng),
    )


def _bad(requests: Array, rate: Array, burst: Array, rng: np.random.Generator) -> Array:
    inside = rng.binomial(requests, burst)
    hiccup = rng.binomial(inside, np.maximum(rate, BURST_RATE))
    return hiccup + rng.binomial(requests - inside, rate)
