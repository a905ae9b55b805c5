"""Intervals, pauses and deadlines the controller waits on are at least a second; the
model refuses shorter ones as the CRD does (``tests/cluster/engine/test_resilience.py``
shows the API server refusing them)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controller.api.v1alpha1 import RolloutSpec
from tests.unit.test_crd_schema import MANIFEST

THRESHOLD = {"query": "sum(up)", "success": "> 0"}


def spec(
    *, pause: str = "1m", analysis: dict[str, Any] | None = None, **step: Any
) -> dict[str, Any]:
    metric = {"name": "up", "threshold": {**THRESHOLD, **(analysis or {}).pop("threshold", {})}}
    return {
        "workloadRef": {"name": "web"},
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 50},
                    {"pause": {"duration": pause}},
                    {"analysis": {"metrics": ["up"], **step}},
                ],
                "analysis": {"metrics": [metric], **(analysis or {})},
            }
        },
    }


TOO_SHORT = {
    "analysis interval": spec(analysis={"interval": "0s"}),
    "threshold interval": spec(analysis={"threshold": {"interval": "500ms"}}),
    "pause": spec(pause="0s"),
    "analysis step maxDuration": spec(maxDuration="0.5s"),
    "guard duration": spec(analysis={"guard": {"duration": "999ms"}}),
}


@pytest.mark.parametrize("data", TOO_SHORT.values(), ids=TOO_SHORT.keys())
def test_a_wait_shorter_than_a_second_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"must be at least 1s \(a shorter interval"):
        RolloutSpec.model_validate(data)


def test_a_second_is_enough_and_an_initial_delay_may_be_zero() -> None:
    data = spec(
        pause="1s",
        maxDuration="1s",
        analysis={
            "interval": "1s",
            "guard": {"duration": "1000ms"},
            "threshold": {"interval": "1s", "initialDelay": "0s"},
        },
    )
    parsed = RolloutSpec.model_validate(data)
    assert parsed.strategy.canary.analysis is not None
    assert parsed.strategy.canary.analysis.interval == "1s"


def test_a_duration_too_long_for_the_clock_is_refused_not_a_crash() -> None:
    with pytest.raises(ValidationError, match="is too long"):
        RolloutSpec.model_validate(spec(pause="99999999999999999h"))


def test_the_crd_carries_the_minimum_as_a_cel_rule_for_each_wait() -> None:
    text = MANIFEST.read_text()
    rules = [
        r["rule"]
        for node in _walk(yaml.safe_load(text))
        for r in node.get("x-kubernetes-validations", [])
        if "duration('1s')" in r["rule"]
    ]
    assert len(rules) == len(TOO_SHORT)


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(n for v in node.values() for n in _walk(v))]
    if isinstance(node, list):
        return [n for v in node for n in _walk(v)]
    return []
