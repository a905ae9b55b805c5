"""The realistic scale profile's objects are what it says: valid Rollouts with an
analysis step judged by a builtin, and 3 to 10 replicas spread over the fleet."""

from __future__ import annotations

from collections import Counter

import pytest

from controller.api.v1alpha1 import Rollout
from e2e.bench.scale import realistic

pytestmark = pytest.mark.unit


def test_the_rollout_parses_and_holds_at_its_analysis_step() -> None:
    obj = realistic.rollout("s-00001", pause_s=15)
    parsed = Rollout.from_object({**obj, "metadata": {**obj["metadata"], "namespace": "ns"}})
    steps = obj["spec"]["strategy"]["canary"]["steps"]
    assert "analysis" in steps[realistic.ANALYSIS_STEP]
    assert len(parsed.spec.strategy.canary.steps) == 4
    assert [m["builtin"] for m in obj["spec"]["strategy"]["canary"]["analysis"]["metrics"]] == [
        "app-errors"
    ]


def test_replicas_spread_over_3_to_10() -> None:
    counts = Counter(realistic.replicas_of(i) for i in range(1000))
    assert sorted(counts) == list(range(3, 11))
    assert max(counts.values()) - min(counts.values()) <= 1
