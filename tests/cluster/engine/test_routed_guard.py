"""The post-promotion guard with the Gateway API router, against the real API server.

With a router the previous stable is kept warm (at full size, its pods Ready)
while the guard judges the new one, so a guard failure only points the stable and
canary Services back at it: no pod has to start. As in test_guard_and_rules.py, a
real controller process judges the cluster's Prometheus scraping each pod's demo
app, under 100 rps to the ``web`` Service from inside the cluster's network
namespace (kube-proxy spreads it over every Ready pod, warm ones included: no
gateway follows the route here, so the traffic only feeds the guard's metric).
Routing is API-level as in test_gatewayapi_release.py: the HTTPRoute and the
Services are read and watched from the API server.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from controller.core.revisions import REVISION_LABEL
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import analysis_rollout, release_with_env
from tests.support.gatewayapi_world import (
    CANARY,
    ROUTING,
    STABLE,
    checkout_weights,
    install_gateway,
    route,
)
from tests.support.routes_gatewayapi import ObjectWatcher
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}
REPLICAS = 2  # the gateway fixture's app


def selected(service: dict[str, Any]) -> str | None:
    """The revision a Service selects (our key of its selector)."""
    return ((service.get("spec") or {}).get("selector") or {}).get(REVISION_LABEL)


def service_revisions(harness: Harness) -> tuple[str | None, str | None]:
    """(stable Service's revision, canary Service's revision), read now."""
    core = client.CoreV1Api(harness.kube.api())
    found = [
        (core.read_namespaced_service(name, harness.namespace).spec.selector or {})
        for name in (STABLE, CANARY)
    ]
    return found[0].get(REVISION_LABEL), found[1].get(REVISION_LABEL)


def pods_of(harness: Harness, revision: str) -> dict[str, tuple[datetime | None, bool]]:
    """The revision's pods by UID: (created, Ready)."""
    core = client.CoreV1Api(harness.kube.api())
    pods = core.list_namespaced_pod(
        harness.namespace, label_selector=f"{REVISION_LABEL}={revision}"
    ).items
    return {
        str(pod.metadata.uid): (
            pod.metadata.creation_timestamp,
            any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []),
        )
        for pod in pods
        if pod.metadata.deletion_timestamp is None
    }


def wall_clock(monotonic: float) -> datetime:
    """``time.monotonic()`` reading ``monotonic`` as a UTC time on this host's clock."""
    return datetime.now(UTC) - timedelta(seconds=time.monotonic() - monotonic)


def test_a_guard_failure_points_the_services_back_at_the_warm_previous_revision(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    """API-level: after promotion the Services select the new revision while the
    previous one's ReplicaSet stays at full size with the same Ready pods; the guard
    fails and both Services select the previous revision again, the HTTPRoute still
    sending everything to the stable Service, and not one pod of the previous revision
    was created or replaced. Measured: the guard's decision (its RolledBack history
    entry) → the stable Service selecting the previous revision, as a watch sees it."""
    gateway = install_gateway(harness, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "10s"}}]
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=steps,
        metrics=[ERRORS],
        guard={"duration": "3m"},
        canary=ROUTING,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    assert service_revisions(harness) == (v1, v1)
    v1_pods = pods_of(harness, v1)
    assert len(v1_pods) == REPLICAS
    services = ObjectWatcher.for_services(harness).start()
    sets = ObjectWatcher.for_replica_sets(harness).start()

    # v2 is healthy through its canary, then fails 30 % of its requests (a late
    # regression): 40 s after its app starts, well after the ~15 s canary.
    release_with_env(harness, ERROR_RATE="0.3", ERRORS_AFTER_SECONDS="40")
    promoted = harness.wait_status("promoted", previousStableRevision=v1, timeout=90)
    v2 = promoted["stableRevision"]
    assert v2 != v1
    assert promoted["analysis"]["stage"] == "Guard"
    assert promoted["phase"] == "Progressing"

    # 1. The guard runs: traffic is the new revision's, the previous one is warm.
    assert service_revisions(harness) == (v2, v2)  # verified before the status said so
    at_promotion = route(gateway, harness)
    assert checkout_weights(at_promotion) == (100, 0)
    eventually(
        lambda: harness.replica_sets()[v2] == (REPLICAS, REPLICAS),
        timeout=30,
        what="v2 at full size",
    )
    assert harness.replica_sets()[v1] == (REPLICAS, REPLICAS)
    assert pods_of(harness, v1) == {uid: (at, True) for uid, (at, _) in v1_pods.items()}
    guarding = harness.status()
    assert (guarding["stableRevision"], guarding["analysis"]["stage"]) == (v2, "Guard")
    assert not guarding["analysis"].get("completed")  # all of the above was mid-guard

    # 2. The guard fails: the Services go back to v1, whose pods are already there.
    status = harness.wait_status("rolled back by the guard", stableRevision=v1, timeout=120)
    last = status["history"][-1]
    assert (last["action"], last["by"], last["revision"]) == ("RolledBack", "controller", v2)
    assert "GuardFailed" in last["reason"]
    assert status["blockedRevision"] == v2
    assert status["analysis"]["metrics"][0]["verdict"] == "Fail"
    assert service_revisions(harness) == (v1, v1)
    after = route(gateway, harness)
    assert checkout_weights(after) == (100, 0)
    # The route needed no write: 100 % to web-stable, which now selects v1.
    assert after["metadata"]["resourceVersion"] == at_promotion["metadata"]["resourceVersion"]
    assert pods_of(harness, v1) == {uid: (at, True) for uid, (at, _) in v1_pods.items()}

    def v2_scaled_down() -> dict[str, Any] | None:
        return next(
            (
                v
                for v in list(sets.versions)
                if v["metadata"]["labels"].get(REVISION_LABEL) == v2 and v["spec"]["replicas"] == 0
            ),
            None,
        )

    scaled_down = eventually(v2_scaled_down, timeout=30, what="v2 scaled down")
    services.stop()
    sets.stop()

    # From before the release to the end, every version of v1's ReplicaSet the watch saw
    # wanted and had all its pods: warm throughout, never scaled down and back up.
    v1_sets = [v for v in sets.versions if v["metadata"]["labels"].get(REVISION_LABEL) == v1]
    assert v1_sets
    assert {v["spec"]["replicas"] for v in v1_sets} == {REPLICAS}
    assert {v["status"].get("availableReplicas") for v in v1_sets} == {REPLICAS}
    assert pods_of(harness, v1).keys() == v1_pods.keys()

    # The stable Service's watched versions: v1, then v2 (promotion), then v1 again.
    stable_seen = [
        (v, at)
        for v, at in zip(list(services.versions), list(services.seen_at), strict=False)
        if v["metadata"]["name"] == STABLE
    ]
    revisions = [selected(v) for v, _ in stable_seen]
    assert [r for i, r in enumerate(revisions) if i == 0 or r != revisions[i - 1]] == [v1, v2, v1]
    flipped, seen_at = stable_seen[len(revisions) - revisions[::-1].index(v2)]
    flipped_at = wall_clock(seen_at)
    # Traffic off v2 (the Service) before its pods go, in resourceVersion order.
    flip_rv = int(flipped["metadata"]["resourceVersion"])
    assert flip_rv < int(scaled_down["metadata"]["resourceVersion"])

    decided_at = datetime.fromisoformat(last["time"].replace("Z", "+00:00"))
    seconds = (flipped_at - decided_at).total_seconds()
    print(
        f"guard failure decided ({last['time']}) -> stable Service selects {v1} again: "
        f"{seconds * 1000:.0f} ms (watch); v1 pods unchanged: {sorted(v1_pods)}"
    )
    assert -0.5 < seconds < 5.0, seconds  # below zero only by the clocks' conversion
