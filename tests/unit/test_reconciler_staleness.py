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


class Server(RecordingActuator):
    """Applies adoption's actions as the API server would: our ReplicaSet created
    (unready) and owned by the Rollout, the Deployment patched."""

    def __init__(self, rollouts: Cache, deployments: Cache, replica_sets: OwnedCache) -> None:
        super().__init__()
        self.rollouts, self.deployments, self.replica_sets = rollouts, deployments, replica_sets
        self.actions: list[Action] = []

    def routing_problem(self, target: Target, stable: object) -> None:
        del target, stable

    def apply(self, target: Target, actions: tuple[Action, ...]) -> tuple[FlagResult, ...]:
        from controller.core.actions import EnsureReplicaSet, UpdateDeployment
        from controller.reconcile import manifests

        for action in actions:
            self.actions.append(action)
            if isinstance(action, EnsureReplicaSet) and action.template is not None:
                rs = manifests.replica_set(
                    rollout="web",
                    rollout_uid="u-1",
                    namespace="shop",
                    revision=action.revision,
                    template=action.template,
                    selector={"matchLabels": {"app": "web"}},
                    replicas=action.replicas,
                )
                rs["metadata"]["resourceVersion"] = "1"
                rs["status"] = {"observedGeneration": 1, "availableReplicas": 0}
                rs["metadata"]["generation"] = 1
                self.replica_sets.objs = [rs]
            if isinstance(action, UpdateDeployment):
                patch = manifests.deployment_patch(
                    replicas=action.replicas,
                    paused=action.paused,
                    desired_replicas=action.desired_replicas,
                    rollout="web",
                )
                written = copy.deepcopy(self.deployments.objs[0])
                meta = written["metadata"]
                meta["labels"] = {**(meta.get("labels") or {}), **patch["metadata"]["labels"]}
                meta["annotations"] = {
                    **(meta.get("annotations") or {}),
                    **patch["metadata"]["annotations"],
                }
                meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
                written["spec"].update(patch["spec"])
                self.deployments.objs = [written]
        return ()

    def write_status(self, target: Target, status: dict[str, Any]) -> dict[str, Any]:
        written = super().write_status(target, status)
        self.rollouts.objs = [written]
        return written

    def pods_available(self, count: int) -> None:
        rs = copy.deepcopy(self.replica_sets.objs[0])
        rs["status"]["availableReplicas"] = rs["status"]["readyReplicas"] = count
        rs["metadata"]["resourceVersion"] = str(int(rs["metadata"]["resourceVersion"]) + 1)
        self.replica_sets.objs = [rs]


class OwnedCache(Cache):
    def by_index(self, index: str, value: str) -> list[dict[str, Any]]:
        assert index == OWNER_INDEX
        return list(self.objs)


def test_pods_becoming_ready_one_by_one_are_written_at_most_every_two_seconds() -> None:
    from controller.core.pacing import PROGRESS_WRITE_INTERVAL

    rollouts, deployments, replica_sets = Cache(rollout("10")), Cache(), OwnedCache()
    deployments.objs = [deployment("5")]
    deployments.objs[0]["spec"]["replicas"] = 4
    server = Server(rollouts, deployments, replica_sets)
    clock = [NOW]
    reconciler = Reconciler(
        rollouts=rollouts,
        deployments=deployments,
        replica_sets=replica_sets,
        actuator=server,  # type: ignore[arg-type]
        events=NoEvents(),  # type: ignore[arg-type]
        clock=lambda: clock[0],
    )
    key = ObjectKey("shop", "web")

    def status() -> dict[str, Any]:
        return dict(rollouts.objs[0]["status"])

    reconciler.reconcile(key)  # adopts: our ReplicaSet, the Deployment paused
    assert server.status_writes == 1
    assert status()["stableReadyReplicas"] == 0

    server.pods_available(1)
    clock[0] += timedelta(seconds=0.5)
    result = reconciler.reconcile(key)
    assert server.status_writes == 1  # progress alone, 0.5 s after the last write: waits
    left = PROGRESS_WRITE_INTERVAL - timedelta(seconds=0.5)
    assert result.requeue_after == left.total_seconds()

    server.pods_available(2)
    clock[0] += timedelta(seconds=1)
    reconciler.reconcile(key)
    assert server.status_writes == 1

    clock[0] += timedelta(seconds=0.5)  # the interval is over: the latest count is written
    reconciler.reconcile(key)
    assert server.status_writes == 2
    assert status()["stableReadyReplicas"] == 2
    assert "2/4" in status()["message"]

    server.pods_available(4)  # Healthy: a transition, written at once
    clock[0] += timedelta(seconds=0.1)
    reconciler.reconcile(key)
    assert server.status_writes == 3
    assert status()["phase"] == "Healthy"
    assert status()["stableReadyReplicas"] == 4
