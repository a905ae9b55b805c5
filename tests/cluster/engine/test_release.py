"""Releasing with a real controller: adoption, steps, promote, abort, retry, rollback."""

from __future__ import annotations

import time

from tests.support.scenario import Harness, ReadyMonitor
from tests.support.waiting import eventually


def test_adoption_takes_over_the_deployment_with_no_unready_moment(harness: Harness) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    with ReadyMonitor(harness) as monitor:
        harness.create_rollout()
        status = harness.wait_status("adopted", phase="Healthy", timeout=60)
        deployment = harness.deployment()
        assert deployment.spec.replicas == 0
        assert deployment.spec.paused is True
        time.sleep(1)  # a few more samples after the Deployment's pods went away
    assert monitor.minimum is not None
    assert monitor.minimum >= 3, f"ready endpoints dipped to {monitor.minimum}"
    assert harness.replica_sets() == {status["stableRevision"]: (3, 3)}
    assert [h["action"] for h in status["history"]] == ["Adopted"]


def test_set_image_walks_the_steps_then_promote_makes_the_canary_stable(
    harness: Harness,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    harness.create_rollout()
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    started = time.monotonic()
    harness.set_image("web:v2")
    status = harness.wait_status("first step", currentStepIndex=1, canaryWeight=20, timeout=30)
    v2 = status["canaryRevision"]
    print(f"set image -> canary at 20 % in {time.monotonic() - started:.2f}s")
    assert harness.replica_sets() == {v1: (3, 3), v2: (1, 1)}
    assert status["phase"] == "Paused"

    status = harness.wait_status("timed pause over", currentStepIndex=3, timeout=30)
    assert status["canaryWeight"] == 50
    assert harness.replica_sets() == {v1: (3, 3), v2: (2, 2)}
    time.sleep(2)
    assert harness.status()["currentStepIndex"] == 3  # an indefinite pause holds

    harness.cli("promote", "web")
    status = harness.wait_status("promoted", phase="Healthy", stableRevision=v2, timeout=30)
    assert status["previousStableRevision"] == v1
    # Healthy is written with the old stable's scale-down; its pods go after that.
    eventually(
        lambda: harness.replica_sets() == {v1: (0, 0), v2: (3, 3)},
        timeout=15,
        what="the old stable's pods gone",
    )
    assert [h["action"] for h in status["history"]] == ["Adopted", "ReleaseStarted", "Promoted"]
    completed = next(c for c in status["conditions"] if c["type"] == "Completed")
    assert completed["status"] == "True"


def test_kubectl_wait_for_completed_returns_once_the_release_is_promoted(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {"duration": "3s"}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    harness.wait_status("release under way", currentStepIndex=1)  # Completed is False now

    started = time.monotonic()
    proc = harness.kube.kubectl(
        "wait",
        "--for=condition=Completed",
        "rollout/web",
        f"--namespace={harness.namespace}",
        "--timeout=60s",
    )
    waited = time.monotonic() - started

    assert "condition met" in proc.stdout
    status = harness.status()
    assert status["stableRevision"] not in (None, v1)  # it returned on the promotion …
    assert status["phase"] == "Healthy"
    assert waited >= 1.0  # … having waited out the pause, not on a stale condition


def test_abort_returns_to_stable_and_retry_starts_again(harness: Harness) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    harness.create_rollout()
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("canary up", currentStepIndex=1)["canaryRevision"]

    harness.cli("abort", "web", "--reason", "errors in the logs")
    status = harness.wait_status("aborted", phase="Degraded", blockedRevision=v2)
    assert "errors in the logs" in status["message"]
    assert "landinggear-admin" in status["message"]
    assert harness.replica_sets() == {v1: (3, 3), v2: (0, 0)}
    aborted = next(c for c in status["conditions"] if c["type"] == "Aborted")
    assert aborted["status"] == "True"
    time.sleep(2)
    assert harness.replica_sets()[v2] == (0, 0)  # the same template is not rolled out again

    harness.cli("retry", "web")
    status = harness.wait_status("retried", canaryRevision=v2, currentStepIndex=1, timeout=30)
    assert harness.replica_sets()[v2] == (1, 1)


def test_one_click_rollback_after_promotion_restores_the_previous_revision(
    harness: Harness,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("v2 promoted", phase="Healthy", previousStableRevision=v1)[
        "stableRevision"
    ]
    # The old ReplicaSet's status catches up with its scale-down a moment later.
    eventually(
        lambda: harness.replica_sets() == {v1: (0, 0), v2: (3, 3)},
        timeout=10,
        what="v1 scaled down, v2 in full",
    )

    started = time.monotonic()
    harness.cli("rollback", "web", "--reason", "checkout broken")
    status = harness.wait_status("rolled back", stableRevision=v1, timeout=30)

    def all_traffic_on_v1() -> bool:
        return harness.replica_sets() == {v1: (3, 3), v2: (0, 0)}

    eventually(all_traffic_on_v1, timeout=30, what="100 % on the previous revision")
    print(f"rollback command -> 100 % on previous revision in {time.monotonic() - started:.2f}s")
    status = harness.wait_status("degraded on blocked template", phase="Degraded")
    assert status["blockedRevision"] == v2
    assert status["history"][-1]["action"] == "RolledBack"
    assert status["history"][-1]["by"] == "landinggear-admin"
    time.sleep(2)
    assert harness.replica_sets()[v2] == (0, 0)  # not re-rolled until the template changes


def test_new_template_mid_canary_restarts_at_step_zero(harness: Harness) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    harness.create_rollout()
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("v2 at 50 %", currentStepIndex=3, timeout=30)["canaryRevision"]

    harness.set_image("web:v3")
    status = harness.wait_status("v3 at step 1", currentStepIndex=1, timeout=30)
    v3 = status["canaryRevision"]
    assert v3 not in (v1, v2)
    assert harness.replica_sets() == {v1: (3, 3), v2: (0, 0), v3: (1, 1)}
    assert [h["action"] for h in status["history"]][-2:] == ["Superseded", "ReleaseStarted"]


def test_deleting_the_rollout_hands_the_deployment_back_without_downtime(
    harness: Harness,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    harness.create_rollout()
    harness.wait_status("adopted", phase="Healthy")
    with ReadyMonitor(harness) as monitor:
        harness.kube.kubectl("delete", "rollout", "web", f"--namespace={harness.namespace}")
        from tests.support.waiting import eventually

        eventually(lambda: not harness.replica_sets(), timeout=60, what="our ReplicaSets gone")
    assert monitor.minimum is not None
    assert monitor.minimum >= 3
    deployment = harness.deployment()
    assert deployment.spec.replicas == 3
    assert not deployment.spec.paused
    assert deployment.status.available_replicas == 3
