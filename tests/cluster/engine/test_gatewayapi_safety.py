"""The Gateway API router when the world is not as planned, against the real API server
and the real Gateway API CRDs: hand edits of the route, a route that does not exist,
the Rollout deleted mid-release, a patch planned from a stale read.

API-level: the upstream HTTPRoute/GRPCRoute CRDs (v1.6.3 standard channel) are
installed, but no Gateway implementation runs here (no data plane), so what is
asserted is what the route objects say, read from the API server — the spec a
gateway would program — never traffic actually served. The routes and Services
(the ``gateway`` fixture): :mod:`tests.support.gatewayapi_world`.
"""

from __future__ import annotations

import copy

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api.routing import TrafficRouting
from controller.core.revisions import REVISION_LABEL, Revision
from controller.kube.transport import request_json
from controller.traffic import RouteTarget
from controller.traffic.gatewayapi import GatewayAPIRouter
from controller.traffic.gatewayapi_plan import RouteKind, Wanted, plan
from tests.support.gatewayapi_world import (
    BETA,
    CANARY,
    ROUTING,
    STABLE,
    checkout_weights,
    ref,
    route,
    start_release,
)
from tests.support.routes_gatewayapi import GROUP, VERSION, events
from tests.support.scenario import Harness
from tests.support.waiting import eventually


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
