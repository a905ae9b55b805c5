"""The targets' PASS / FAIL, evaluated on hand-made figures."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.bench.judgement.targets import aa_target, oracle_target, tuned_target

pytestmark = pytest.mark.unit

BETA = 0.1


def caught(requests: float | None, rate: float = 1.0) -> dict[str, Any]:
    return {"median_requests": requests, "detect_rate": rate if requests else 0.0}


def row(
    *,
    share: float,
    ratio: float | None,
    ours: float | None,
    oracle: float | None = None,
    flagger: float | None = None,
    argo: float | None = None,
) -> dict[str, Any]:
    return {
        "share": share,
        "ratio": ratio,
        "ours": caught(ours),
        "two_arm_oracle": caught(oracle),
        "tuned": {"flagger": caught(flagger), "argo": caught(argo)},
    }


def drift(ours: dict[str, float]) -> list[dict[str, Any]]:
    rows = [{"scenario": s, "method": "ours", "false_rollback": r} for s, r in ours.items()]
    return [*rows, {"scenario": "step", "method": "flagger_tuned", "false_rollback": 0.9}]


def test_aa_passes_only_when_every_scenario_is_within_alpha() -> None:
    assert aa_target(drift({"stationary": 0.004, "step": 0.01}), alpha=0.01).passed
    failed = aa_target(drift({"stationary": 0.004, "step": 0.0105}), alpha=0.01)
    assert not failed.passed
    assert "step 0.0105" in failed.line()
    assert failed.line().startswith("FAIL")
    assert not aa_target([], alpha=0.01).passed


def test_the_oracle_target_needs_every_share_within_the_limit() -> None:
    rows = [
        row(share=0.05, ratio=2.0, ours=1100, oracle=1000),
        row(share=0.05, ratio=2.0, ours=1300, oracle=1000),
        row(share=0.05, ratio=2.0, ours=1000, oracle=1000),
        row(share=0.5, ratio=2.0, ours=1100, oracle=1000),
        row(share=0.5, ratio=5.0, ours=9000, oracle=1000),  # not a 2x case
    ]
    passed = oracle_target(rows, BETA)
    assert passed.passed
    assert passed.figures == {"0.05": pytest.approx(1.1), "0.5": pytest.approx(1.1)}
    rows.append(row(share=0.5, ratio=2.0, ours=1300, oracle=1000))
    failed = oracle_target(rows, BETA)
    assert not failed.passed
    assert failed.figures["0.5"] == pytest.approx(1.2)


def test_the_oracle_target_ignores_cases_either_misses_and_fails_without_any() -> None:
    rows = [
        row(share=0.2, ratio=2.0, ours=1000, oracle=None),
        row(share=0.2, ratio=2.0, ours=None, oracle=1000),
    ]
    assert not oracle_target(rows, BETA).passed
    rows.append(row(share=0.2, ratio=2.0, ours=1000, oracle=900))
    assert oracle_target(rows, BETA).passed


def test_the_tuned_target_takes_the_median_gain_over_cases_both_catch() -> None:
    rows = [
        row(share=0.2, ratio=2.0, ours=100, flagger=150, argo=500),
        row(share=0.2, ratio=5.0, ours=100, flagger=250, argo=500),
        row(share=0.2, ratio=1.5, ours=100, flagger=900, argo=500),
        row(share=0.2, ratio=None, ours=100, flagger=None, argo=500),
    ]
    flagger = tuned_target(rows, "flagger", BETA)
    assert flagger.passed
    assert flagger.figures["median"] == 2.5
    assert (flagger.figures["cases"], flagger.figures["only_ours"]) == (3, 1)
    assert flagger.figures["by_regression"] == {"2x": 1.5, "5x": 2.5, "1.5x": 9.0}
    rows[2] = row(share=0.2, ratio=1.5, ours=100, flagger=190, argo=500)
    assert not tuned_target(rows, "flagger", BETA).passed
    assert tuned_target(rows, "argo", BETA).figures["median"] == 5.0


def test_a_rule_catching_too_few_runs_is_not_compared() -> None:
    rows = [row(share=0.2, ratio=2.0, ours=100, flagger=400)]
    rows[0]["tuned"]["flagger"]["detect_rate"] = 1 - BETA - 0.01
    target = tuned_target(rows, "flagger", BETA)
    assert not target.passed
    assert target.figures["only_ours"] == 1
