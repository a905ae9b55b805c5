"""Ours as the controller drives it, the oracle two-arm SPRT, and Wald's floors."""

from __future__ import annotations

import numpy as np
import pytest

from controller.judge.sequential import Config, State, Verdict, Window, update
from e2e.bench.judgement.judges import one_arm_bound, oracle, ours, two_arm_bound
from e2e.bench.judgement.traffic import LOOK, LOOKS, Stream

pytestmark = pytest.mark.unit


def looks(per_look: list[tuple[int, int, int, int]]) -> Stream:
    """One run from (canary requests, canary bad, stable requests, stable bad) per look."""
    rows = per_look + [(100, 0, 100, 0)] * (LOOKS - len(per_look))
    n_c, k_c, n_s, k_s = (np.array([[r[i] for r in rows]]) for i in range(4))
    return Stream(n_c=n_c, k_c=k_c, n_s=n_s, k_s=k_s)


def test_a_passed_canary_is_still_rolled_back_when_it_turns_bad() -> None:
    balanced = [(1000, 10, 1000, 10)] * 60
    turned = [(1000, 30, 1000, 0)] * 20
    state = State()
    for n_c, k_c, n_s, k_s in balanced:
        window = Window(canary_requests=n_c, canary_bad=k_c, stable_requests=n_s, stable_bad=k_s)
        state = update(state, window, Config())
    assert state.verdict is Verdict.PASS  # a judge stopping here would never roll back
    outcome = ours(looks(balanced + turned))
    assert outcome.rolled_back[0]
    assert outcome.seconds[0] > 60 * LOOK
    assert outcome.requests[0] == 1000 * outcome.seconds[0] / LOOK


def test_ours_rolls_back_at_the_look_its_evidence_crosses_one_over_alpha() -> None:
    outcome = ours(looks([(100, 5, 100, 0)] * 10))
    state, expected = State(), None
    for look in range(10):
        window = Window(canary_requests=100, canary_bad=5, stable_requests=100, stable_bad=0)
        state = update(state, window, Config())
        if state.verdict is Verdict.FAIL:
            expected = (look + 1) * LOOK
            break
    assert expected is not None
    assert outcome.seconds[0] == expected


def test_the_oracle_stops_at_walds_upper_boundary() -> None:
    # Share 1/2, ratio 2: each lone canary error adds ln(4/3); ln(0.9/0.01) needs 16.
    outcome = oracle(looks([(100, 1, 100, 0)] * 20), ratio=2.0)
    assert outcome.seconds[0] == 16 * LOOK
    assert outcome.requests[0] == 1600


def test_the_oracle_accepts_at_the_lower_boundary_and_never_rolls_back_after() -> None:
    stable_errors_first = [(100, 0, 100, 1)] * 20 + [(100, 5, 100, 0)] * 20
    assert not oracle(looks(stable_errors_first), ratio=2.0).rolled_back[0]


def test_walds_floors_match_the_reference_figures() -> None:
    assert one_arm_bound(0.01, 0.02) == pytest.approx(976, rel=0.01)
    for share, ratio in ((0.05, 1.08), (0.2, 1.34), (0.5, 2.30)):
        two = two_arm_bound(0.01, 0.02, share) / one_arm_bound(0.01, 0.02)
        assert two == pytest.approx(ratio, abs=0.02)
