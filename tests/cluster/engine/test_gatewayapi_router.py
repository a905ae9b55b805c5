"""The Gateway API router against the real API server and the real Gateway API CRDs.

API-level: the upstream HTTPRoute/GRPCRoute CRDs (v1.6.3 standard channel) are
installed, but no Gateway implementation runs here (no data plane), so what is
asserted is what the route objects say, read and watched from the API server —
the spec a gateway would program — never traffic actually served.
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api.routing import TrafficRouting
from controller.core.revisions import REVISION_LABEL, Revision
from controller.core.world import Request, Verb, request_annotation
from controller.kube.transport import request_json
from controller.traffic import RouteTarget
from controller.traffic.gatewayapi import GatewayAPIRouter
from controller.traffic.gatewayapi_plan import RouteKind, Wanted, plan
from tests.support.gateway_app import CANARY, ROUTING, STABLE, checkout_weights, ref, route
from tests.support.routes_gatewayapi import GROUP, VERSION, ObjectWatcher, events, weights_of
from tests.support.scenario import Harness
from tests.support.waiting import eventually

BETA: dict[str, Any] = {
    "name": "beta",
    "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}],
}


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


def start_release(harness: Harness, steps: list[dict[str, Any]]) -> tuple[str, str]:
    """Adopt the app under a routed Rollout, then roll out web:v2; (stable, canary)."""
    controller = harness.start_controller()
    del controller
    harness.create_rollout(steps=steps, canary=ROUTING)
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = eventually(
        lambda: harness.status().get("canaryRevision"), timeout=60, what="release started"
    )
    return v1, v2


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


def test_a_hand_edit_of_our_weights_is_repaired_and_other_edits_survive(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level: drift on rule checkout's weights is put back with a TrafficRepaired
    Event on the next reconcile; a filter and a rule added by hand stay."""
    start_release(harness, [{"setWeight": 30}, {"pause": {}}])
    harness.wait_status("paused at 30 %", phase="Paused", canaryWeight=30)
    edited = route(gateway, harness)
    rules = edited["spec"]["rules"]
    rules[0]["backendRefs"][0]["weight"] = 10
    rules[0]["backendRefs"][1]["weight"] = 90
    rules[1]["filters"] = [
        {
            "type": "ResponseHeaderModifier",
            "responseHeaderModifier": {"set": [{"name": "x", "value": "1"}]},
        }
    ]
    rules.append(
        {
            "name": "added",
            "matches": [{"path": {"type": "Exact", "value": "/new"}}],
            "backendRefs": [ref("web")],
        }
    )
    gateway.replace_namespaced_custom_object(
        GROUP, VERSION, harness.namespace, "httproutes", "web", edited
    )
    # Routes are not watched: the next reconcile (here, a touch of the Rollout) repairs.
    harness.kube.kubectl("annotate", "rollout/web", f"--namespace={harness.namespace}", "touched=1")

    eventually(
        lambda: checkout_weights(route(gateway, harness)) == (70, 30),
        timeout=30,
        what="weights repaired",
    )
    repaired = route(gateway, harness)
    assert repaired["spec"]["rules"][1]["filters"] == rules[1]["filters"]
    assert repaired["spec"]["rules"][-1]["name"] == "added"
    warned = eventually(
        lambda: [e for e in events(harness) if e["reason"] == "TrafficRepaired"] or None,
        timeout=30,
        what="TrafficRepaired Event",
    )
    assert "web-canary weight 30 (was 90)" in warned[0]["message"]


def test_a_missing_route_degrades_the_rollout_and_touches_no_workload(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level: a Rollout naming a route that does not exist, and a rule the route
    does not have, is Degraded (TrafficRoutingFailed) and no ReplicaSet is made."""
    harness.start_controller()
    broken = copy.deepcopy(ROUTING)
    broken["trafficRouting"]["gatewayAPI"] = {"httpRoutes": [{"name": "nope"}]}
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}], canary=broken)
    status = harness.wait_status("degraded", phase="Degraded")
    assert "HTTPRoute" in status["message"]
    assert "nope does not exist" in status["message"]
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "TrafficRoutingFailed"
    assert harness.replica_sets() == {}
    assert harness.deployment().spec.paused is not True

    broken["trafficRouting"]["gatewayAPI"] = {"httpRoutes": [{"name": "web", "rule": "static"}]}
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}], canary=broken)
    eventually(
        lambda: "add both Services as backendRefs" in harness.status().get("message", ""),
        timeout=30,
        what="rule without both Services reported",
    )
    assert harness.replica_sets() == {}


def test_deleting_the_rollout_restores_stable_and_removes_only_our_rule(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level: deletion puts rule checkout back at 100/0, removes rule
    landinggear-beta and hands the Services' selectors back; the rest stays."""
    before = route(gateway, harness)
    start_release(harness, [{"setWeight": 40}, {"setHeaderRoute": BETA}, {"pause": {}}])
    harness.wait_status("paused", phase="Paused", canaryWeight=40)
    eventually(
        lambda: route(gateway, harness)["spec"]["rules"][-1].get("name") == "landinggear-beta",
        timeout=30,
        what="header rule added",
    )
    harness.kube.kubectl(
        "delete", "rollout/web", f"--namespace={harness.namespace}", "--wait=false"
    )
    eventually(
        lambda: (
            not harness.kube.kubectl(
                "get",
                "rollout/web",
                f"--namespace={harness.namespace}",
                "--ignore-not-found",
                "-o",
                "name",
            ).stdout.strip()
        ),
        timeout=60,
        what="Rollout gone",
    )
    after = route(gateway, harness)
    assert after["spec"] == before["spec"]
    core = client.CoreV1Api(harness.kube.api())
    for name in (STABLE, CANARY):
        assert REVISION_LABEL not in (
            core.read_namespaced_service(name, harness.namespace).spec.selector or {}
        )


def test_a_stale_patch_is_refused_and_status_counts_for_the_current_generation(
    harness: Harness, gateway: client.CustomObjectsApi
) -> None:
    """API-level, the router alone: a patch planned from a read the route has since
    moved past is refused by the API server (its tests fail: 422), nothing of it
    applied; and a weight read back counts only once a Gateway reporting on the
    route (simulated here by writing the status) has accepted the current generation."""
    api = harness.kube.api()
    gw = GatewayAPIRouter(api)
    routing = TrafficRouting.model_validate(ROUTING["trafficRouting"])
    target = RouteTarget(
        namespace=harness.namespace,
        rollout="web",
        stable=Revision("aaa"),
        canary=Revision("bbb"),
        routing=routing,
        stable_service=STABLE,
        canary_service=CANARY,
    )
    stale = route(gateway, harness)
    wanted = Wanted(
        kind=RouteKind.HTTP,
        stable_service=STABLE,
        canary_service=CANARY,
        weight=25,
        rules=frozenset({"checkout"}),
    )
    ops = plan(stale, wanted).ops
    edited = route(gateway, harness)
    edited["metadata"].setdefault("labels", {})["edited"] = "by-hand"
    gateway.replace_namespaced_custom_object(
        GROUP, VERSION, harness.namespace, "httproutes", "web", edited
    )
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{harness.namespace}/httproutes/web"
    with pytest.raises(ApiException) as refused:
        request_json(api, "PATCH", path, body=ops, content_type="application/json-patch+json")
    assert refused.value.status == 422
    assert checkout_weights(route(gateway, harness)) == (100, 0)

    # No controller process here: Services missing selectors are set by the router.
    assert gw.set_weight(target, 25)
    assert gw.verify_weight(target, 25)  # no Gateway reports: the spec read back
    assert gw.set_weight(target, 25) == []  # nothing differs: nothing written
    current = route(gateway, harness)
    generation = current["metadata"]["generation"]

    def report(observed: int, accepted: str = "True") -> None:
        obj = route(gateway, harness)
        conditions = [
            {
                "type": kind,
                "status": accepted if kind == "Accepted" else "True",
                "reason": kind,
                "message": "",
                "observedGeneration": observed,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
            for kind in ("Accepted", "ResolvedRefs")
        ]
        obj["status"] = {
            "parents": [
                {
                    "parentRef": {"name": "public"},
                    "controllerName": "example.com/gateway",
                    "conditions": conditions,
                }
            ]
        }
        gateway.replace_namespaced_custom_object_status(
            GROUP, VERSION, harness.namespace, "httproutes", "web", obj
        )

    report(generation - 1)
    assert not gw.verify_weight(target, 25)  # the Gateway has not seen this spec yet
    report(generation, accepted="False")
    assert not gw.verify_weight(target, 25)
    report(generation)
    assert gw.verify_weight(target, 25)


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
            Request(verb=Verb.PROMOTE, id=uuid.uuid4().hex, by="test", at=datetime.now(UTC))
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
