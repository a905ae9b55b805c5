"""Rollouts as the API server returns them, for the renderers and refusals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

_CANARY: dict[str, Any] = {
    "apiVersion": "landinggear.dev/v1alpha1",
    "kind": "Rollout",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "3584bf30-e375-4815-b000-7c011c775371",
        "resourceVersion": "4787",
        "generation": 2,
        "creationTimestamp": "2024-05-01T09:00:00Z",
    },
    "spec": {
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "strategy": {
            "canary": {
                "steps": [
                    {"setWeight": 20},
                    {"pause": {}},
                    {"setWeight": 50},
                    {"pause": {"duration": "5m"}},
                ]
            }
        },
        "paused": False,
    },
    "status": {
        "phase": "Paused",
        "message": "Waiting for promote at step 2",
        "observedGeneration": 2,
        "currentStepIndex": 1,
        "canaryWeight": 20,
        "stableRevision": "b5c7d9f2xz",
        "canaryRevision": "q8r4t6v2wz",
        "previousStableRevision": "m2n4p6r8tv",
        "replicas": 4,
        "stableReadyReplicas": 3,
        "canaryReadyReplicas": 1,
        "conditions": [
            {
                "type": "Paused",
                "status": "True",
                "reason": "PausedAtStep",
                "message": "Waiting for promote",
                "lastTransitionTime": "2024-05-01T11:55:00Z",
            }
        ],
        "history": [
            {
                "time": f"2024-05-01T0{i}:00:00Z",
                "action": "Promoted",
                "revision": f"rev{i}",
                "previousRevision": f"rev{i - 1}",
                "by": "controller",
                "reason": "All steps completed",
            }
            for i in range(6)
        ]
        + [
            {
                "time": "2024-05-01T11:50:00Z",
                "action": "ReleaseStarted",
                "revision": "q8r4t6v2wz",
                "by": "controller",
            }
        ],
    },
}


def canary() -> dict[str, Any]:
    """``shop/web`` paused at step 2 of 4 with a canary at 20%."""
    return copy.deepcopy(_CANARY)


def healthy() -> dict[str, Any]:
    """``shop/web`` with no canary: the stable serves everything."""
    rollout = canary()
    rollout["status"].update(
        phase="Healthy", message="Revision b5c7d9f2xz serves all traffic", canaryWeight=0
    )
    for key in ("currentStepIndex", "canaryRevision"):
        rollout["status"].pop(key)
    rollout["status"]["conditions"] = [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Completed",
            "lastTransitionTime": "2024-05-01T11:00:00Z",
        }
    ]
    return rollout


def unseen() -> dict[str, Any]:
    """A Rollout the controller has not yet reconciled: no status at all."""
    rollout = canary()
    del rollout["status"]
    return rollout
