"""The controller watches only the Deployments it adopted (labelled): a Deployment it
has not labelled yet, or whose label a user removed, is still found, (re)labelled and
released."""

from __future__ import annotations

from controller.core.world import MANAGED_BY_LABEL
from tests.support.scenario import Harness
from tests.support.waiting import eventually


def _labels(harness: Harness) -> dict[str, str]:
    return dict(harness.deployment().metadata.labels or {})


def test_a_rollout_created_before_its_deployment_adopts_it_once_it_exists(
    harness: Harness,
) -> None:
    harness.start_controller()
    harness.create_rollout()
    harness.wait_status("waiting for its Deployment", phase="Degraded")
    harness.create_app(replicas=2)
    harness.wait_status("adopted", phase="Healthy", timeout=60)
    assert _labels(harness)[MANAGED_BY_LABEL] == "web"


def test_a_removed_label_comes_back_and_a_new_image_still_releases(harness: Harness) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    assert _labels(harness)[MANAGED_BY_LABEL] == "web"

    harness.kube.kubectl(
        "label", "deployment/web", f"{MANAGED_BY_LABEL}-", f"--namespace={harness.namespace}"
    )
    eventually(lambda: MANAGED_BY_LABEL in _labels(harness), timeout=30, what="label back")
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", currentStepIndex=1, canaryWeight=50, timeout=30)


def test_deleting_the_rollout_removes_the_label_once_the_deployment_serves(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout()
    harness.wait_status("adopted", phase="Healthy")
    harness.kube.kubectl("delete", "rollout", "web", f"--namespace={harness.namespace}")
    eventually(lambda: not harness.replica_sets(), timeout=60, what="our ReplicaSets gone")
    deployment = harness.deployment()
    assert deployment.status.available_replicas == 2
    assert not deployment.spec.paused
    assert MANAGED_BY_LABEL not in _labels(harness)
