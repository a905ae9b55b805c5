"""What a reconcile writes: nothing when nothing changed, a bounded few per step; and
the controller's count of its writes is the API server's."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

from kubernetes import client

from controller.core.world import MANAGED_BY_LABEL
from tests.support.scenario import ControllerProcess, Harness
from tests.support.waiting import eventually


def _versions(harness: Harness) -> dict[str, str]:
    """resourceVersion of the Rollout and of our ReplicaSets."""
    apps = client.AppsV1Api(harness.kube.api())
    found = {"rollout": harness.rollout()["metadata"]["resourceVersion"]}
    for rs in apps.list_namespaced_replica_set(
        harness.namespace, label_selector="landinggear.dev/rollout"
    ).items:
        found[str(rs.metadata.name)] = str(rs.metadata.resource_version)
    return found


def test_an_idle_reconcile_writes_nothing(harness: Harness) -> None:
    harness.create_app(replicas=3)
    controller = harness.start_controller()
    harness.create_rollout()
    harness.wait_status("adopted", phase="Healthy")
    eventually(controller.metrics, timeout=10, what="metrics served")
    before = _versions(harness)
    writes = controller.api_writes()
    reconciles = controller.metrics()["landinggear_reconcile_total{result=done}"]

    for index in range(10):  # each annotation is a watch event: a reconcile with nothing to do
        harness.kube.kubectl(
            "annotate",
            "rollout/web",
            f"touch=n{index}",
            "--overwrite",
            f"--namespace={harness.namespace}",
        )
    eventually(
        lambda: controller.metrics()["landinggear_reconcile_total{result=done}"] >= reconciles + 10,
        timeout=20,
        what="ten more reconciles",
    )

    assert controller.api_writes() == writes
    metrics = controller.metrics()
    phase = f"namespace={harness.namespace},phase=Healthy,rollout=web"
    assert metrics[f"landinggear_rollout_phase{{{phase}}}"] == 1
    assert metrics["landinggear_workqueue_depth"] == 0
    for endpoint in ("healthz", "readyz"):
        url = f"http://127.0.0.1:{controller.metrics_port}/{endpoint}"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
    after = _versions(harness)
    assert {k: v for k, v in after.items() if k != "rollout"} == {
        k: v for k, v in before.items() if k != "rollout"
    }


def test_each_step_costs_a_bounded_number_of_writes(harness: Harness) -> None:
    harness.create_app(replicas=4)
    controller = harness.start_controller()
    harness.create_rollout(
        steps=[{"setWeight": 25}, {"setWeight": 50}, {"setWeight": 75}, {"pause": {}}]
    )
    harness.wait_status("adopted", phase="Healthy")
    eventually(controller.metrics, timeout=10, what="metrics served")
    writes = controller.api_writes()
    harness.set_image("web:v2")
    harness.wait_status("at the last step", currentStepIndex=3, canaryWeight=75, timeout=30)
    per_step = (controller.api_writes() - writes) / 3
    print(f"API writes per setWeight step: {per_step:.1f}")
    # One scale of the canary ReplicaSet and one or two status writes (scaling, then
    # Ready) per step; anything much above that is a write loop.
    assert per_step <= 4


def test_the_write_counter_counts_every_write_the_api_server_audited(harness: Harness) -> None:
    """Every write, Events and Lease included, by verb and resource, against the audit log."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    harness.create_app(replicas=2)
    # The local API server audits the admin identity's writes: the controller uses it here.
    controller = harness.start_controller(
        identity=f"count-{harness.namespace}", kubeconfig=harness.kube.kubeconfig
    )
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    harness.wait_status("paused at the last step", currentStepIndex=1, canaryWeight=50, timeout=30)
    agent = f"({controller.identity})"

    def counted() -> Counter[tuple[str, str]]:
        found: Counter[tuple[str, str]] = Counter()
        for name, value in controller.metrics().items():
            if name.startswith("landinggear_api_writes_total{"):
                labels = dict(
                    pair.split("=", 1) for pair in name[name.index("{") + 1 : -1].split(",")
                )
                found[(labels["verb"], labels["resource"].split("/")[0])] += int(value)
        return found

    def audited() -> Counter[tuple[str, str]]:
        return Counter(
            (event.verb, event.resource)
            for event in harness.kube.audit(since=since)
            if event.agent.endswith(agent)
        )

    def same() -> bool:
        return counted() == audited()

    eventually(same, timeout=20, what=f"the counter {counted()} to match the audit {audited()}")
    kinds = {resource for _, resource in counted()}
    assert {"events", "leases", "rollouts", "replicasets"} <= kinds


def _writes_by(controller: ControllerProcess) -> Counter[str]:
    """The controller's writes by ``verb resource``, Leases aside."""
    found: Counter[str] = Counter()
    for name, value in controller.metrics().items():
        if name.startswith("landinggear_api_writes_total{") and "resource=leases" not in name:
            labels = dict(pair.split("=", 1) for pair in name[name.index("{") + 1 : -1].split(","))
            found[f"{labels['verb']} {labels['resource']}"] += int(value)
    return found


def test_adoption_writes_each_object_only_as_often_as_it_must_change(harness: Harness) -> None:
    """Adoption: the finalizer; our ReplicaSet; the Deployment paused (and labelled for
    the watch) while its pods serve, then scaled to zero once ours do; the status when
    adopting and when Healthy (ready counts in between at most every 2 s); the
    Adopted Event. A label a user removes costs one patch."""
    harness.create_app(replicas=2)
    controller = harness.start_controller()
    eventually(controller.metrics, timeout=10, what="metrics served")
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    harness.wait_status("adopted", phase="Healthy")
    time.sleep(2)  # any write a late watch event would cause
    writes = _writes_by(controller)
    # A ready count alone (1/2 pods) waits up to 2 s for the next status write; pods
    # that become ready further apart than that make one more.
    assert writes.pop("update rollouts/status") in (2, 3)
    assert writes == {
        "patch rollouts": 1,
        "create replicasets": 1,
        "patch deployments": 2,
        "create events": 1,
    }
    before = _writes_by(controller)
    harness.kube.kubectl(
        "label", "deployment/web", f"{MANAGED_BY_LABEL}-", f"--namespace={harness.namespace}"
    )
    eventually(
        lambda: MANAGED_BY_LABEL in (harness.deployment().metadata.labels or {}),
        timeout=20,
        what="our label back",
    )
    time.sleep(2)
    assert _writes_by(controller) - before == {"patch deployments": 1}
