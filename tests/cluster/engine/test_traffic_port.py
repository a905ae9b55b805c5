"""The traffic port: a weight counts as reached only once the router verifies it.

Against the real control plane, one reconcile at a time (a one-shot reconciler
over a snapshot), with a router that can be told to verify or not. The router
is a test double by design: it stands for a gateway or mesh whose routes have
not converged yet; the ReplicaSets, the Rollout and its status are real.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kubernetes.client.exceptions import ApiException

from controller.core.traffic import REPLICA_RATIO
from controller.kube.objects import ObjectKey
from controller.reconcile.reconciler import TRAFFIC_RECHECK_SECONDS
from controller.traffic import RouteTarget
from tests.support.scenario import Harness
from tests.support.waiting import eventually


@dataclass
class SlowRouter:
    """Sets weights at once; serves them only once ``converged``."""

    converged: bool = False
    name: str = REPLICA_RATIO
    set_to: list[int] = field(default_factory=list)
    removed: list[RouteTarget] = field(default_factory=list)

    def check(self, target: RouteTarget) -> None:
        del target

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        del target
        self.set_to.append(weight)
        return ()

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        del target, weight
        return self.converged

    def remove_managed_routes(self, target: RouteTarget) -> None:
        self.removed.append(target)


def reconcile_once(harness: Harness, router: SlowRouter) -> float | None:
    reconciler, _ = harness.one_shot_reconciler(routers=[router])
    return reconciler.reconcile(ObjectKey(harness.namespace, "web")).requeue_after


def test_a_weight_is_recorded_only_once_the_router_verifies_it(harness: Harness) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    controller.stop()
    harness.set_image("web:v2")
    router = SlowRouter()

    reconcile_once(harness, router)  # the release starts; the canary's pod comes up
    v2 = harness.wait_status("release started", currentStepIndex=0)["canaryRevision"]
    eventually(
        lambda: harness.replica_sets().get(v2) == (1, 1), timeout=30, what="canary pod available"
    )

    requeue = reconcile_once(harness, router)
    assert router.set_to == [50]  # the route was set …
    status = harness.status()
    assert status["canaryWeight"] == 0  # … but not recorded as reached
    assert status["currentStepIndex"] == 0
    assert requeue == TRAFFIC_RECHECK_SECONDS

    router.converged = True
    reconcile_once(harness, router)
    status = harness.status()
    assert (status["canaryWeight"], status["currentStepIndex"]) == (50, 1)
    assert status["phase"] == "Paused"
    assert harness.replica_sets() == {v1: (2, 2), v2: (1, 1)}


def test_an_abort_scales_the_canary_down_only_after_traffic_left_it(harness: Harness) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("at 50 %", canaryWeight=50, currentStepIndex=1)["canaryRevision"]
    controller.stop()
    harness.cli("abort", "web", "--reason", "checkout errors")
    router = SlowRouter()

    reconcile_once(harness, router)
    assert router.set_to == [0]  # traffic is sent back to the stable first …
    assert harness.replica_sets() == {v1: (2, 2), v2: (1, 1)}  # … the canary still serves
    assert harness.status()["phase"] == "Paused"  # the abort is not recorded yet

    router.converged = True
    reconcile_once(harness, router)
    status = harness.status()
    assert status["phase"] == "Degraded"
    assert status["blockedRevision"] == v2
    assert harness.replica_sets()[v2][0] == 0


def test_deletion_removes_the_routers_routes_before_the_rollout_goes(harness: Harness) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    controller.stop()
    harness.kube.kubectl(
        "delete", "rollout/web", f"--namespace={harness.namespace}", "--wait=false"
    )
    router = SlowRouter(converged=True)

    def gone() -> bool:
        try:
            reconcile_once(harness, router)
        except ApiException as err:
            if err.status == 404:
                return True
            raise
        return False

    eventually(gone, timeout=30, what="Rollout handed back and gone")
    assert [(t.rollout, t.stable, t.canary) for t in router.removed] == [("web", v1, None)]
    deployment = harness.deployment()
    assert not deployment.spec.paused
    assert deployment.spec.replicas == 2
