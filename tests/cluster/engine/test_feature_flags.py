"""The feature-flag kill switch on a real API server: an OpenFeature ``FeatureFlag``
(its upstream CRD, installed from the operator's Go module) switched off when a
release is aborted and restored exactly by ``retry``, by a real controller process."""

from __future__ import annotations

import copy
import time
from typing import Any

from kubernetes import client

from controller.api import v1alpha1
from tests.support.scenario import Harness
from tests.support.waiting import eventually

TARGETING = {"if": [{"in": ["@example.com", {"var": "email"}]}, "on", "off"]}
FLAG: dict[str, Any] = {
    "apiVersion": "core.openfeature.dev/v1beta1",
    "kind": "FeatureFlag",
    "metadata": {"name": "checkout-flags"},
    "spec": {
        "flagSpec": {
            "flags": {
                "new-checkout": {
                    "state": "ENABLED",
                    "variants": {"on": True, "off": False},
                    "defaultVariant": "on",
                    "targeting": TARGETING,
                },
                "other": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"},
            }
        }
    },
}


def _flag(api: client.CustomObjectsApi, namespace: str, name: str = "checkout-flags") -> Any:
    return api.get_namespaced_custom_object(
        "core.openfeature.dev", "v1beta1", namespace, "featureflags", name
    )


def _rollout(harness: Harness, feature_flag: str) -> None:
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "featureFlags": [
                    {
                        "name": "new-checkout",
                        "openFeature": {
                            "featureFlag": feature_flag,
                            "flag": "new-checkout",
                            "offVariant": "off",
                        },
                    }
                ],
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            },
        }
    )


def test_an_abort_switches_the_flag_off_and_retry_restores_it_exactly(
    harness: Harness, flags: client.CustomObjectsApi
) -> None:
    harness.apply(FLAG)
    harness.create_app(replicas=2)
    harness.start_controller()
    _rollout(harness, "checkout-flags")
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)

    aborted = time.monotonic()
    harness.cli("abort", "web", "--reason", "checkout errors")

    def switched_off() -> Any:
        flag = _flag(flags, harness.namespace)
        spec = flag["spec"]["flagSpec"]["flags"]["new-checkout"]
        return flag if spec["defaultVariant"] == "off" and "targeting" not in spec else None

    flag = eventually(switched_off, timeout=30, what="the flag switched off")
    off_after = time.monotonic() - aborted
    assert "landinggear.dev/flag-restore" in flag["metadata"]["annotations"]
    assert flag["spec"]["flagSpec"]["flags"]["other"]["defaultVariant"] == "a"  # untouched
    status = harness.wait_status("degraded", phase="Degraded", stableRevision=v1)
    eventually(
        lambda: (harness.status().get("featureFlags") or [{}])[0].get("state") == "Off",
        timeout=30,
        what="status.featureFlags says Off",
    )
    conditions = {c["type"]: c for c in harness.status().get("conditions") or []}
    assert conditions.get("FlagsPending", {}).get("status") != "True"
    assert status["blockedRevision"] != v1

    harness.cli("retry", "web")

    def restored() -> Any:
        flag = _flag(flags, harness.namespace)
        return flag if flag["spec"]["flagSpec"]["flags"]["new-checkout"].get("targeting") else None

    flag = eventually(restored, timeout=60, what="the flag restored")
    assert flag["spec"]["flagSpec"] == copy.deepcopy(FLAG["spec"]["flagSpec"])  # exactly
    assert "landinggear.dev/flag-restore" not in (flag["metadata"].get("annotations") or {})
    print(f"\nabort → flag observed off through the API: {off_after:.2f}s")


def test_an_unknown_feature_flag_is_pending_loudly_and_the_rollback_goes_on(
    harness: Harness, flags: client.CustomObjectsApi
) -> None:
    del flags
    harness.create_app(replicas=2)
    harness.start_controller()
    _rollout(harness, "no-such-flags")
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)
    harness.cli("abort", "web")
    harness.wait_status("rolled back", phase="Degraded", stableRevision=v1, timeout=30)
    assert harness.replica_sets()[v1] == (2, 2)

    def pending() -> Any:
        conditions = {c["type"]: c for c in harness.status().get("conditions") or []}
        found = conditions.get("FlagsPending")
        return found if found and found["status"] == "True" else None

    condition = eventually(pending, timeout=30, what="FlagsPending")
    assert "no-such-flags" in condition["message"] or "new-checkout" in condition["message"]
    flag = (harness.status().get("featureFlags") or [{}])[0]
    assert flag.get("lastError"), flag
    print(f"\nFlagsPending: {condition['message']}")
