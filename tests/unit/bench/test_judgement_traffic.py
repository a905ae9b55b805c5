"""The judgement benchmark's traffic: drift scenarios move both revisions as documented."""

from __future__ import annotations

import numpy as np
import pytest

from e2e.bench.judgement.traffic import (
    BURST_RATE,
    BURST_SECONDS,
    BURST_WITHIN,
    DIURNAL,
    LOOK,
    LOOKS,
    STEP,
    Case,
    Scenario,
    Traffic,
    drift,
    simulate,
)

pytestmark = pytest.mark.unit

BUSY = Traffic(rps=1000, share=0.5, p0=0.01)


def test_stationary_traffic_keeps_the_base_rate_and_has_no_burst() -> None:
    multiplier, burst = drift(Scenario.STATIONARY, 5, np.random.default_rng(1))
    assert multiplier.shape == burst.shape == (5, LOOKS)
    assert (multiplier == 1).all()
    assert (burst == 0).all()


def test_the_step_raises_both_revisions_by_thirty_percent_from_the_start() -> None:
    multiplier, burst = drift(Scenario.STEP, 3, np.random.default_rng(1))
    assert np.allclose(multiplier, 1 + STEP)
    assert (burst == 0).all()


def test_diurnal_drift_swings_within_thirty_percent_and_differs_between_runs() -> None:
    multiplier, _ = drift(Scenario.DIURNAL, 500, np.random.default_rng(2))
    assert multiplier.min() >= 1 - DIURNAL - 1e-12
    assert multiplier.max() <= 1 + DIURNAL + 1e-12
    per_run = multiplier.mean(axis=1)
    assert per_run.max() - per_run.min() > DIURNAL  # random times of day
    assert np.ptp(multiplier, axis=1).max() < 0.05  # barely moves within 30 minutes


def test_one_burst_of_sixty_seconds_starts_in_the_first_ten_minutes() -> None:
    _, burst = drift(Scenario.BURST, 200, np.random.default_rng(3))
    assert np.allclose(burst.sum(axis=1) * LOOK, BURST_SECONDS)
    touched = burst > 0
    first = touched.argmax(axis=1)
    last = LOOKS - 1 - touched[:, ::-1].argmax(axis=1)
    assert (first * LOOK < BURST_WITHIN).all()
    assert ((last - first + 1) * LOOK <= BURST_SECONDS + LOOK).all()  # contiguous


def test_counts_follow_the_drifted_base_rate_on_both_revisions() -> None:
    rng = np.random.default_rng(4)
    for scenario, factor in ((Scenario.STATIONARY, 1.0), (Scenario.STEP, 1 + STEP)):
        stream = simulate(Case(traffic=BUSY, ratio=1.0), 20, rng, scenario)
        assert (stream.n_c + stream.n_s == BUSY.rps * LOOK).all()
        for bad, served in ((stream.k_c, stream.n_c), (stream.k_s, stream.n_s)):
            assert bad.sum() / served.sum() == pytest.approx(BUSY.p0 * factor, rel=0.03)


def test_a_regression_multiplies_the_canary_rate_only() -> None:
    stream = simulate(Case(traffic=BUSY, ratio=2.0), 20, np.random.default_rng(5))
    assert stream.k_c.sum() / stream.n_c.sum() == pytest.approx(2 * BUSY.p0, rel=0.03)
    assert stream.k_s.sum() / stream.n_s.sum() == pytest.approx(BUSY.p0, rel=0.03)


def test_the_burst_fails_both_revisions_inside_it_only() -> None:
    rng = np.random.default_rng(6)
    stream = simulate(Case(traffic=BUSY, ratio=1.0), 50, rng, Scenario.BURST)
    _, burst = drift(Scenario.BURST, 50, np.random.default_rng(6))
    # Same generator state as simulate's first draw, so the same burst windows.
    inside = burst == 1.0
    for bad, served in ((stream.k_c, stream.n_c), (stream.k_s, stream.n_s)):
        assert bad[inside].sum() / served[inside].sum() == pytest.approx(BURST_RATE, rel=0.05)
        outside = burst == 0.0
        assert bad[outside].sum() / served[outside].sum() == pytest.approx(BUSY.p0, rel=0.05)
