"""The reconciler never decides from a cache older than its own last write.

The caches and the actuator are in-memory fakes: this checks the reconciler's
bookkeeping, which needs no API server (the end-to-end scenarios cover the rest).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.core.actions import Action, Event, FlagResult
from controller.kube.objects import ObjectKey
from controller.reconcile.actuator import Target
from controller.reconcile.reconciler import OWNER_INDEX, Reconciler

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Cache:
    def __init__(self, *objs: dict[str, Any]) -> None:
        self.objs = list(objs)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objs if o["metadata"]["name"] == name), None)

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        assert index == OWNER_INDEX
        return []


class RecordingActuator:
    """Counts writes; each status write bumps the resourceVersion like the server."""

    def __init__(self) -> None:
        self.status_writes = 0
        self.last_written: dict[str, Any] | None = None

    def apply(self, target: Target, actions: tuple[Action, ...]) -> tuple[FlagResult, ...]:
        del target, actions
        return ()

    def write_status(self, target: Target, status: dict[str, Any]) -> dict[str, Any]:
        self.status_writes += 1
        written = copy.deepcopy(target.obj)
        written["status"] = status
        version = int(written["metadata"]["resourceVersion"]) + 1
        written["metadata"]["resourceVersion"] = str(version)
        target.obj = self.last_written = written
        return written


class NoEvents:
    def record(self, regarding: dict[str, Any], event: Event) -> None:
        del regarding, event


def rollout(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u-1",
            "resourceVersion": version,
            "finalizers": ["landinggear.dev/hand-back"],
        },
        "spec": {"workloadRef": {"name": "web"}, "strategy": {"canary": {"steps": []}}},
    }


def test_a_cache_still_holding_the_version_we_replaced_is_skipped() -> None:
    cached = rollout("10")
    actuator = RecordingActuator()
    reconciler = Reconciler(
        rollouts=Cache(cached),
        deployments=Cache(),  # no Deployment: the decision is a Degraded status
        replica_sets=Cache(),
        actuator=actuator,  # type: ignore[arg-type]
        events=NoEvents(),  # type: ignore[arg-type]
        clock=lambda: NOW,
    )
    key = ObjectKey("shop", "web")

    reconciler.reconcile(key)
    assert actuator.status_writes == 1

    reconciler.reconcile(key)  # the watch has not delivered version 11 yet
    assert actuator.status_writes == 1

    assert actuator.last_written is not None
    reconciler.rollouts = Cache(actuator.last_written)  # the watch caught up
    reconciler.reconcile(key)
    assert actuator.status_writes == 1  # and nothing changed since: no write


def test_a_status_the_server_stores_with_integral_floats_as_ints_is_unchanged() -> None:
    from controller.reconcile.reconciler import canonical_status

    ours = {"analysis": {"metrics": [{"evidence": 1.0, "logLr": [0.0, 2.5]}]}}
    stored = {"analysis": {"metrics": [{"evidence": 1, "logLr": [0, 2.5]}]}}
    assert canonical_status(ours) == canonical_status(stored)


class WorkloadActuator(RecordingActuator):
    """Also applies actions to the Deployment and ReplicaSets as the server would."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: list[str] = []

    def routing_problem(self, target: Target, stable: object) -> None:
        del target, stable

    def apply(self, target: Target, actions: tuple[Action, ...]) -> tuple[FlagResult, ...]:
        for action in actions:
            self.applied.append(type(action).__name__)
            if type(action).__name__ == "UpdateDeployment" and target.deployment is not None:
                written = copy.deepcopy(target.deployment)
                version = int(written["metadata"]["resourceVersion"]) + 1
                written["metadata"]["resourceVersion"] = str(version)
                target.deployment = written
            if type(action).__name__ == "EnsureReplicaSet":
                target.replica_sets["web-new"] = {"metadata": {"name": "web-new"}}
        return ()


def deployment(version: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "uid": "d-1", "resourceVersion": version},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
        },
    }


def test_our_writes_to_the_workload_are_not_repeated_from_a_stale_cache() -> None:
    actuator = WorkloadActuator()
    clock = [NOW]
    reconciler = Reconciler(
        rollouts=Cache(rollout("10")),
        deployments=Cache(deployment("5")),
        replica_sets=Cache(),
        actuator=actuator,  # type: ignore[arg-type]
        events=NoEvents(),  # type: ignore[arg-type]
        clock=lambda: clock[0],
    )
    key = ObjectKey("shop", "web")
    reconciler.reconcile(key)  # adopts: our ReplicaSet, the Deployment paused
    assert actuator.applied == ["EnsureReplicaSet", "UpdateDeployment"]
    assert actuator.last_written is not None
    reconciler.rollouts = Cache(actuator.last_written)  # the Rollout's watch caught up first

    result = reconciler.reconcile(key)  # the Deployment's and ReplicaSet's have not
    assert actuator.applied == ["EnsureReplicaSet", "UpdateDeployment"]
    assert result.requeue_after is not None

    clock[0] += timedelta(seconds=11)  # never caught up (say, deleted): decided on as it is
    reconciler.reconcile(key)
    assert actuator.applied[2:] == ["EnsureReplicaSet", "UpdateDeployment"]
