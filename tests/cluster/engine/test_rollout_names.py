"""A Rollout's name is the value of the ``landinggear.dev/rollout`` label on its
ReplicaSets and pods, and a label value is at most 63 characters: the API server
refuses a longer name at once (CEL on ``metadata.name``), rather than accepting a
Rollout whose first ReplicaSet would then be refused; 63 characters release."""

from __future__ import annotations

import json

from kubernetes import client

from controller.api import v1alpha1
from controller.api.crd import NAME_RULE
from controller.core.revisions import ROLLOUT_LABEL
from tests.support.scenario import Harness
from tests.support.waiting import eventually

LONGEST = "r" + "x" * 62


def _rollout(name: str) -> dict[str, object]:
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": name},
        "spec": {
            "workloadRef": {"name": name},
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        },
    }


def test_a_name_over_63_characters_is_refused_and_63_release(harness: Harness) -> None:
    ns = f"--namespace={harness.namespace}"
    proc = harness.kube.kubectl(
        "apply", ns, "-f", "-", stdin=json.dumps(_rollout(LONGEST + "x")), check=False
    )
    assert proc.returncode != 0
    assert str(NAME_RULE["message"]) in proc.stderr, proc.stderr

    assert len(LONGEST) == 63
    harness.create_app(name=LONGEST, replicas=1)
    harness.start_controller()
    harness.create_rollout(name=LONGEST, steps=[{"setWeight": 50}, {"pause": {"duration": "1s"}}])
    stable = harness.wait_status("adopted", name=LONGEST, phase="Healthy")["stableRevision"]
    harness.set_image("web:v2", name=LONGEST)

    def promoted() -> bool:
        status = harness.status(LONGEST)
        return status.get("phase") == "Healthy" and status.get("stableRevision") != stable

    eventually(promoted, timeout=90, what="the 63-character Rollout released")
    replica_sets = client.AppsV1Api(harness.kube.api()).list_namespaced_replica_set(
        harness.namespace, label_selector=ROLLOUT_LABEL
    )
    assert {(rs.metadata.labels or {}).get(ROLLOUT_LABEL) for rs in replica_sets.items} == {LONGEST}
