"""The API server refuses a Rollout that would have the controller look again in a busy
loop: intervals, pauses, maxDuration and the guard's duration are at least 1s (CEL)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.scenario import Harness

MESSAGE = "must be at least 1s (a shorter interval, pause or deadline would have the"


def rollout(name: str, *, pause: str, interval: str, threshold: str, guard: str,
            max_duration: str) -> dict[str, Any]:  # fmt: skip
    metric = {"name": "up", "threshold": {"query": "sum(up)", "success": "> 0",
                                          "interval": threshold, "initialDelay": "0s"}}  # fmt: skip
    return {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "workloadRef": {"name": "web"},
            "strategy": {
                "canary": {
                    "steps": [
                        {"pause": {"duration": pause}},
                        {"analysis": {"metrics": ["up"], "maxDuration": max_duration}},
                    ],
                    "analysis": {
                        "interval": interval,
                        "guard": {"duration": guard},
                        "metrics": [metric],
                    },
                }
            },
        },
    }


def test_waits_shorter_than_a_second_are_refused_each_with_its_field(harness: Harness) -> None:
    ns = f"--namespace={harness.namespace}"
    bad = rollout("busy", pause="0s", interval="0s", threshold="500ms", guard="0.5s",
                  max_duration="0ms")  # fmt: skip

    proc = harness.kube.kubectl("apply", ns, "-f", "-", stdin=json.dumps(bad), check=False)

    assert proc.returncode != 0
    canary = "spec.strategy.canary"
    for field in (
        f"{canary}.steps[0].pause.duration",
        f"{canary}.steps[1].analysis.maxDuration",
        f"{canary}.analysis.interval",
        f"{canary}.analysis.guard.duration",
        f"{canary}.analysis.metrics[0].threshold.interval",
    ):
        assert field in proc.stderr, (field, proc.stderr)
    assert proc.stderr.count(MESSAGE) == 5, proc.stderr

    fine = rollout("fine", pause="1s", interval="1s", threshold="1s", guard="1000ms",
                   max_duration="1s")  # fmt: skip
    harness.kube.kubectl("apply", ns, "-f", "-", stdin=json.dumps(fine))
