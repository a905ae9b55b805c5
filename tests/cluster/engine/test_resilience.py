"""Crashes, restarts, conflicts and two replicas: what users rely on when things go wrong."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from controller.kube.objects import ObjectKey
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[3]


def test_crash_between_traffic_change_and_status_write_resumes_at_the_same_step(
    harness: Harness,
) -> None:
    harness.create_app(replicas=4)
    harness.start_controller()
    harness.create_rollout(
        steps=[{"setWeight": 25}, {"pause": {"duration": "2s"}}, {"setWeight": 50}, {"pause": {}}]
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("step 1", currentStepIndex=1)["canaryRevision"]
    harness.stop_all()

    # The next reconcile that changes the world scales the canary to 50 % and is
    # SIGKILLed before it can record the step.
    crashing = harness.start_controller(identity="b", failpoints="crash-before-status-write=1")
    assert crashing.proc.wait(timeout=60) == -signal.SIGKILL
    assert harness.replica_sets()[v2][0] == 2  # traffic changed …
    assert harness.status()["currentStepIndex"] == 1  # … but the step was not recorded

    harness.start_controller(identity="c")
    status = harness.wait_status("resumed", currentStepIndex=3, canaryWeight=50, timeout=30)
    assert status["canaryRevision"] == v2
    assert harness.replica_sets() == {v1: (4, 4), v2: (2, 2)}  # no regression to 25 %
    started = [h for h in status["history"] if h["action"] == "ReleaseStarted"]
    assert len(started) == 1  # nothing replayed


def test_timed_pause_ends_on_time_although_the_controller_was_killed(harness: Harness) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    # Longer than a takeover: a SIGKILLed leader's Lease must expire (15 s) first.
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {"duration": "20s"}}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    status = harness.wait_status("pausing", currentStepIndex=1, timeout=30)
    pause_started = datetime.fromisoformat(status["stepStartedAt"])
    controller.kill()
    time.sleep(3)
    harness.start_controller(identity="b")
    status = harness.wait_status("pause over", currentStepIndex=2, timeout=40)
    ended = datetime.fromisoformat(status["stepStartedAt"])
    late = (ended - pause_started).total_seconds() - 20
    assert -0.5 <= late < 2, f"pause ended {late:.1f}s after its deadline"


def replica_set_uids(harness: Harness) -> dict[str, str]:
    apps = client.AppsV1Api(harness.kube.api())
    return {
        str(rs.metadata.name): str(rs.metadata.uid)
        for rs in apps.list_namespaced_replica_set(harness.namespace).items
    }


def test_a_conflict_on_the_status_write_records_nothing_and_its_actions_are_not_redone(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    controller.stop()
    harness.set_image("web:v2")
    reconciler, snapshot = harness.one_shot_reconciler()

    # Someone else changes the Rollout after our snapshot: our status write must lose.
    harness.kube.kubectl(
        "annotate", "rollout/web", "team=payments", f"--namespace={harness.namespace}"
    )
    result = reconciler.reconcile(ObjectKey(harness.namespace, "web"))

    assert result.retry
    status = harness.status()
    assert status.get("canaryRevision") is None  # nothing recorded from the stale snapshot
    assert status["phase"] == "Healthy"
    assert status["stableRevision"] == v1
    assert (
        snapshot["metadata"]["resourceVersion"] != harness.rollout()["metadata"]["resourceVersion"]
    )
    # The actions before the write did happen: they are end states (the canary's
    # ReplicaSet at its first step's size), which the next decision wants too.
    sets = harness.replica_sets()
    [v2] = set(sets) - {v1}
    assert sets == {v1: (2, 2), v2: (1, 1)}
    created = replica_set_uids(harness)

    harness.start_controller(identity="b")
    status = harness.wait_status("proceeds after the conflict", currentStepIndex=1, timeout=30)
    assert (status["canaryRevision"], status["canaryWeight"]) == (v2, 50)
    assert replica_set_uids(harness) == created  # adopted as it was: nothing recreated
    assert harness.replica_sets() == {v1: (2, 2), v2: (1, 1)}


def test_invalid_rollouts_are_refused_with_readable_messages(harness: Harness) -> None:
    bad = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "bad"},
        "spec": {
            "workloadRef": {"name": "web"},
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 20, "pause": {}},
                        {"setWeight": 120},
                        {"pause": {"duration": "ten seconds"}},
                    ]
                }
            },
        },
    }
    proc = harness.kube.kubectl(
        "apply", f"--namespace={harness.namespace}", "-f", "-", stdin=json.dumps(bad), check=False
    )
    assert proc.returncode != 0
    assert (
        "each step must have exactly one action: setWeight, pause, analysis, "
        "setHeaderRoute or setCanaryScale" in proc.stderr
    )
    assert re.search(r"steps\[1\]\.setWeight.*less than or equal to 100", proc.stderr)
    assert "pause.duration must be a duration such as 30s, 5m or 1h30m" in proc.stderr
    missing = {**bad, "spec": {"strategy": {"canary": {"steps": []}}}}
    proc = harness.kube.kubectl(
        "apply",
        f"--namespace={harness.namespace}",
        "-f",
        "-",
        stdin=json.dumps(missing),
        check=False,
    )
    assert proc.returncode != 0
    assert "spec.workloadRef: Required value" in proc.stderr


def test_the_analysis_example_applies_and_bad_analyses_are_refused(harness: Harness) -> None:
    example = ROOT / "manifests" / "examples" / "web-rollout-analysis.yaml"
    ns = f"--namespace={harness.namespace}"
    harness.kube.kubectl("apply", ns, "--dry-run=server", "-f", str(example))
    metric = {"name": "errors", "builtin": "app-errors"}
    bad_metrics = [
        {"name": "slow", "builtin": "app-latency"},
        {"name": "ingress", "builtin": "nginx-errors"},
        {"name": "both", "builtin": "app-errors", "threshold": {"query": "up", "success": "> 0"}},
        {"name": "rule", "threshold": {"query": "up"}},
        {"name": "cond", "threshold": {"query": "up", "success": "is fine"}},
        metric,
    ]
    bad: dict[str, Any] = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "bad-analysis"},
        "spec": {
            "workloadRef": {"name": "web"},
            "strategy": {
                "canary": {
                    "steps": [{"analysis": {"metrics": ["nope"]}}],
                    "analysis": {"metrics": [metric, *bad_metrics]},
                }
            },
        },
    }
    proc = harness.kube.kubectl("apply", ns, "-f", "-", stdin=json.dumps(bad), check=False)
    assert proc.returncode != 0
    for message in (
        "latency builtins need latencyBoundSeconds",
        "nginx builtins need ingress",
        "a metric needs exactly one of builtin or threshold",
        "a threshold rule needs a success or a failure condition",
        "metric names must be unique",
        "analysis steps may only name metrics of spec.strategy.canary.analysis",
    ):
        assert message in proc.stderr, (message, proc.stderr)
    assert re.search(r"success: Invalid value.*should match", proc.stderr), proc.stderr
    no_analysis = {
        **bad,
        "spec": {**bad["spec"], "strategy": {"canary": {"steps": [{"analysis": {}}]}}},
    }
    proc = harness.kube.kubectl("apply", ns, "-f", "-", stdin=json.dumps(no_analysis), check=False)
    assert proc.returncode != 0
    assert "analysis steps need spec.strategy.canary.analysis" in proc.stderr


def test_progress_deadline_aborts_a_canary_whose_pods_never_become_ready(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}], progress_deadline=3)
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    # kwok runs no containers; a pod asking for more CPU than the node has stays Pending.
    harness.kube.kubectl(
        "set",
        "resources",
        "deployment/web",
        "--requests=cpu=1000",
        f"--namespace={harness.namespace}",
    )
    status = harness.wait_status("aborted by deadline", phase="Degraded", timeout=30)
    assert "ProgressDeadlineExceeded" in status["message"]
    assert "0/1 pods available" in status["message"]
    assert harness.replica_sets()[v1] == (2, 2)


def lease_holder(harness: Harness) -> Callable[[], str]:
    """Reads who holds the controller's Lease in the test namespace."""
    leases = client.CoordinationV1Api(harness.kube.api())

    def holder() -> str:
        lease = leases.read_namespaced_lease("landinggear-controller", harness.namespace)
        return lease.spec.holder_identity or ""

    return holder


def test_two_replicas_one_leads_and_the_other_takes_over_when_it_dies(
    harness: Harness,
) -> None:
    harness.create_app(replicas=2)
    first = harness.start_controller(identity="first")
    second = harness.start_controller(identity="second")
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    holder = lease_holder(harness)

    leader = eventually(holder, timeout=30, what="a leader")
    standby = second if leader == "first" else first
    active = first if leader == "first" else second
    assert "Started workers" not in standby.logs()

    active.kill()
    killed_at = time.monotonic()
    eventually(lambda: holder() == standby.identity, timeout=30, what="takeover")
    took = time.monotonic() - killed_at
    assert took <= 20, f"takeover took {took:.1f}s"
    print(f"leader SIGKILLed -> standby leads in {took:.1f}s")
    harness.set_image("web:v2")
    harness.wait_status("the new leader works", currentStepIndex=1, timeout=30)


def test_sigterm_releases_the_lease_so_the_standby_takes_over_at_once(
    harness: Harness,
) -> None:
    harness.create_app(replicas=1)
    first = harness.start_controller(identity="first")
    harness.create_rollout(steps=[{"setWeight": 100}])
    harness.wait_status("adopted", phase="Healthy")
    second = harness.start_controller(identity="second")
    holder = lease_holder(harness)

    assert holder() == "first"
    stopped_at = time.monotonic()
    assert first.stop() == 0
    eventually(lambda: holder() == "second", timeout=10, what="takeover after release")
    assert time.monotonic() - stopped_at < 6
    assert second.proc.poll() is None


def test_a_leader_that_loses_its_lease_stops_working_and_exits_non_zero(
    harness: Harness,
) -> None:
    harness.create_app(replicas=1)
    controller = harness.start_controller(identity="first")
    harness.create_rollout(steps=[{"setWeight": 100}])
    harness.wait_status("adopted", phase="Healthy")
    # Another replica took the Lease (as after a partition): the next renewal finds it.
    harness.kube.kubectl(
        "patch",
        "lease",
        "landinggear-controller",
        f"--namespace={harness.namespace}",
        "--type=merge",
        "-p",
        '{"spec":{"holderIdentity":"intruder"}}',
    )
    assert controller.proc.wait(timeout=20) == 1
    logs = controller.logs()
    assert "Lost leadership" in logs
    assert "Stopped workers" in logs
