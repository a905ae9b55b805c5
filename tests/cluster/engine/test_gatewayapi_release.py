"""The Gateway API router through a release, against the real API server and the real
Gateway API CRDs: each step's weight, the header route, an abort, and how fast a
promote reaches the route.

API-level: the upstream HTTPRoute/GRPCRoute CRDs (v1.6.3 standard channel) are
installed, but no Gateway implementation runs here (no data plane), so what is
asserted is what the route objects say, read and watched from the API server —
the spec a gateway would program — never traffic actually served. The routes and
Services (the ``gateway`` fixture): :mod:`tests.support.gatewayapi_world`.
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from controller.core.revisions import REVISION_LABEL
from controller.core.world import Request, Verb, request_annotation
from tests.cluster.cli.conftest import ADMIN
from tests.support.gatewayapi_world import BETA, CANARY, checkout_weights, route, start_release
from tests.support.routes_gatewayapi import ObjectWatcher, weights_of
from tests.support.scenario import Harness
from tests.support.waiting import eventually


def users_part(obj: dict[str, Any]) -> dict[str, Any]:
    """The route less what the controller owns (rule checkout's two weights and rules
    named landinggear-*) and less what the API server maintains."""
    stripped = copy.deepcopy(obj)
    for key in ("resourceVersion", "generation", "managedFields"):
        stripped["metadata"].pop(key, None)
    rules = [
        r for r in stripped["spec"]["rules"] if not r.get("name", "").startswith("landinggear-")
    ]
    for rule in rules:
        if rule.get("name") == "checkout":
            for backend in rule["backendRefs"]:
                backend.pop("weight")
    stripped["spec"]["rules"] = rules
    return stripped


def test_a_full_canary_sets_each_steps_weight_on_the_named_rule_only(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level: each step's setWeight appears on rule checkout exactly (and on the
    GRPCRoute), the header rule comes and goes, and the rest of both routes is the
    user's, byte for byte."""
    before = route(gateway, harness)
    grpc_before = route(gateway, harness, "grpcroutes", "web-grpc")
    http = ObjectWatcher.for_custom(harness, "httproutes", "web").start()
    grpc = ObjectWatcher.for_custom(harness, "grpcroutes", "web-grpc").start()
    steps: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"pause": {"duration": "1s"}},
        {"setHeaderRoute": BETA},
        {"setWeight": 50},
        {"pause": {"duration": "1s"}},
        {"setWeight": 80},
        {"pause": {"duration": "1s"}},
    ]
    start_release(harness, steps)
    harness.wait_status("promoted", timeout=120, phase="Healthy", canaryRevision=None)
    time.sleep(2)  # any late write would show up in the watch
    http.stop()
    grpc.stop()

    seen = [checkout_weights(v)[1] for v in http.versions]
    assert dedupe(seen) == [0, 20, 50, 80, 0]
    assert all(s + c == 100 for s, c in map(checkout_weights, http.versions))
    grpc_seen = [dict(weights_of(v)["#0"])[CANARY] for v in grpc.versions]
    assert dedupe(grpc_seen) == [0, 20, 50, 80, 0]

    ours = [
        [r["name"] for r in v["spec"]["rules"] if r.get("name", "").startswith("landinggear-")]
        for v in http.versions
    ]
    assert dedupe([tuple(o) for o in ours]) == [(), ("landinggear-beta",), ()]
    with_header = next(
        v for v in http.versions if v["spec"]["rules"][-1].get("name") == "landinggear-beta"
    )
    assert with_header["spec"]["rules"][-1] == {
        "name": "landinggear-beta",
        "matches": [
            {
                "path": {"type": "PathPrefix", "value": "/checkout"},
                "headers": [{"name": "X-Canary", "type": "Exact", "value": "yes"}],
            }
        ],
        "backendRefs": [{"group": "", "kind": "Service", "name": CANARY, "port": 80, "weight": 1}],
    }

    after = route(gateway, harness)
    assert users_part(after) == users_part(before)
    assert after["spec"] == before["spec"]  # back at 100/0, without our rule: all as it was
    grpc_after = route(gateway, harness, "grpcroutes", "web-grpc")
    assert grpc_after["spec"] == grpc_before["spec"]
    # One write per change, none more: 4 weight changes + header rule in and out (the
    # add rides with a weight change when both are due in one reconcile).
    writes = len(http.versions) - 1
    assert 4 <= writes <= 6, [checkout_weights(v) for v in http.versions]
    print(f"HTTPRoute versions written during the release: {writes}")


def dedupe(values: list[Any]) -> list[Any]:
    result: list[Any] = []
    for value in values:
        if not result or result[-1] != value:
            result.append(value)
    return result


def test_an_abort_routes_everything_to_stable_before_the_canary_scales_down(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level: the route version with weight 0 precedes (in the API server's
    resourceVersion order) the canary ReplicaSet's scale-down."""
    start_release(harness, [{"setWeight": 50}, {"setHeaderRoute": BETA}, {"pause": {}}])
    harness.wait_status("paused at 50 %", phase="Paused", canaryWeight=50)
    assert checkout_weights(route(gateway, harness)) == (50, 50)
    routes = ObjectWatcher.for_custom(harness, "httproutes", "web").start()
    sets = ObjectWatcher.for_replica_sets(harness).start()
    harness.cli("abort", "web", "--reason", "checkout errors")
    harness.wait_status("aborted", phase="Degraded")
    eventually(
        lambda: any(v["spec"]["replicas"] == 0 for v in sets.versions[1:]),
        timeout=30,
        what="canary scaled down",
    )
    routes.stop()
    sets.stop()

    to_stable = next(v for v in routes.versions if checkout_weights(v) == (100, 0))
    assert not any(r.get("name") == "landinggear-beta" for r in to_stable["spec"]["rules"])
    canary_rs = harness.status()["blockedRevision"]
    scaled_down = next(
        v
        for v in sets.versions
        if v["metadata"]["labels"].get(REVISION_LABEL) == canary_rs and v["spec"]["replicas"] == 0
    )
    route_rv = int(to_stable["metadata"]["resourceVersion"])
    rs_rv = int(scaled_down["metadata"]["resourceVersion"])
    print(f"route to stable at resourceVersion {route_rv}, canary scaled down at {rs_rv}")
    assert route_rv < rs_rv


def test_a_promote_reaches_the_route_in_well_under_a_second(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """Measured: a promote request written to the Rollout (what the CLI writes) → the
    new weight on the HTTPRoute, as a watch sees it. The canary runs its pods for every
    weight from the start (setCanaryScale), so no pod start is in the figure: it is the
    watch, the reconcile, the route's check, patch and read-back."""
    steps: list[dict[str, Any]] = [
        {"setCanaryScale": {"replicas": 2}},
        {"setWeight": 10},
        {"pause": {}},
        {"setWeight": 30},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {}},
        {"setWeight": 90},
        {"pause": {}},
    ]
    start_release(harness, steps)
    harness.wait_status("at 10 %", phase="Paused", canaryWeight=10)
    http = ObjectWatcher.for_custom(harness, "httproutes", "web").start()
    custom = client.CustomObjectsApi(harness.kube.api())
    latencies = []
    for weight in (30, 60, 90):
        key, value = request_annotation(
            Request(verb=Verb.PROMOTE, id=uuid.uuid4().hex, by=ADMIN, at=datetime.now(UTC))
        )
        asked = time.monotonic()
        custom.patch_namespaced_custom_object(
            "landinggear.dev",
            "v1alpha1",
            harness.namespace,
            "rollouts",
            "web",
            {"metadata": {"annotations": {key: value}}},
        )

        def reached(weight: int = weight) -> float | None:
            for obj, at in zip(list(http.versions), list(http.seen_at), strict=False):
                if checkout_weights(obj)[1] == weight:
                    return at
            return None

        seen = eventually(reached, timeout=30, what=f"the route at {weight} %")
        latencies.append(seen - asked)
        harness.wait_status(f"at {weight} %", phase="Paused", canaryWeight=weight)
    http.stop()
    print(
        "promote request -> HTTPRoute weight seen: "
        + ", ".join(f"{x * 1000:.0f} ms" for x in latencies)
    )
    assert max(latencies) < 2.0, latencies
