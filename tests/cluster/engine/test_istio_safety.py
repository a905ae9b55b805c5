"""The Istio router when the world is not as planned, against the real API server with
Istio's own CRDs (istio.io/api): hand edits, unusable routes, no Istio API, the
Rollout deleted mid-release, a patch planned from an outdated read, a status behind
the generation.

API-level: no Istio control or data plane runs here, so these tests prove what the
VirtualService, DestinationRule and Services say at each moment (read back), not
what Envoy would do with them. The objects and the ``istio`` fixture's world:
:mod:`tests.support.routes_istio`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api.routing import TrafficRouting
from controller.core.revisions import Revision
from controller.traffic import RouteError, RouteTarget
from controller.traffic import istio as istio_module
from tests.support.routes_istio import (
    CANARY,
    GROUP,
    ISTIO_ROUTING,
    ISTIO_SUBSET_ROUTING,
    STABLE,
    IstioWorld,
    release_started,
    route_target,
    selector,
    user_http,
    weights,
)
from tests.support.scenario import Harness
from tests.support.waiting import eventually


def test_a_hand_edit_of_the_weights_is_put_back_and_other_edits_survive(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. Someone sets the primary route back to 100/0 by hand and, in the same
    edit, adds a route and a timeout: the next reconcile restores 50/50 with a
    TrafficRepaired Event; the new route and the timeout stay."""
    istio.create_virtual_service(user_http(harness.namespace, subsets=False))
    harness.start_controller()
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}], canary=ISTIO_ROUTING)
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    release_started(harness)
    harness.wait_status("at 50 %", phase="Paused", canaryWeight=50)
    added = {"name": "by-hand", "route": [{"destination": {"host": "elsewhere"}}]}
    istio.json_patch(
        [
            {"op": "replace", "path": "/spec/http/1/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/1/route/1/weight", "value": 0},
            {"op": "add", "path": "/spec/http/1/timeout", "value": "7s"},
            {"op": "add", "path": "/spec/http/-", "value": added},
        ]
    )
    # Routes are not watched: the next reconcile (any change of the Rollout) repairs them.
    harness.kube.kubectl(
        "annotate", "rollout/web", f"--namespace={harness.namespace}", "test/poke=1"
    )
    eventually(lambda: weights(istio.get()) == (50, 50), timeout=30, what="weights put back")
    http = istio.get()["spec"]["http"]
    assert http[1]["timeout"] == "7s"
    assert http[-1] == added
    events = client.CoreV1Api(harness.kube.api()).list_namespaced_event(harness.namespace).items
    repaired = [str(e.message) for e in events if e.reason == "TrafficRepaired"]
    assert len(repaired) == 1
    assert "route primary weights 50/50 (was 100/0)" in repaired[0]


@pytest.mark.parametrize(
    ("routing", "http", "problem"),
    [
        ({"virtualService": {"name": "nope"}}, None, "VirtualService .*/nope not found"),
        (
            {"virtualService": {"name": "web", "routes": ["checkout"]}},
            None,
            "no http route named 'checkout'",
        ),
        (
            {
                "virtualService": {"name": "web"},
                "destinationRule": {
                    "name": "web",
                    "stableSubset": "stable",
                    "canarySubset": "blue",
                },
            },
            [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
                        {"destination": {"host": "web", "subset": "blue"}, "weight": 0},
                    ],
                }
            ],
            "no subset named 'blue'",
        ),
        (
            {
                "virtualService": {"name": "web"},
                "destinationRule": {
                    "name": "web",
                    "stableSubset": "stable",
                    "canarySubset": "canary",
                },
            },
            None,
            "no destination with subset stable|no http route of VirtualService web has",
        ),
        (
            {
                "virtualService": {"name": "web"},
                "destinationRule": {
                    "name": "web",
                    "stableSubset": "stable",
                    "canarySubset": "canary",
                },
            },
            [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": STABLE, "subset": "stable"}, "weight": 100},
                        {"destination": {"host": STABLE, "subset": "canary"}, "weight": 0},
                    ],
                }
            ],
            "subsets of host web-stable, which is stableService or canaryService",
        ),
    ],
    ids=["no-virtual-service", "no-route", "no-subset", "no-subset-destination", "pinned-host"],
)
def test_unusable_routes_degrade_the_rollout_and_leave_the_workload_alone(
    harness: Harness,
    istio: IstioWorld,
    routing: dict[str, Any],
    http: list[dict[str, Any]] | None,
    problem: str,
) -> None:
    """API-level. A missing VirtualService, route, subset or destination: the Rollout is
    Degraded (TrafficRoutingFailed), no ReplicaSet is created, the Deployment runs on."""
    istio.create_virtual_service(http or user_http(harness.namespace, subsets=False))
    istio.create_destination_rule()
    harness.start_controller()
    harness.create_rollout(
        steps=[{"setWeight": 50}, {"pause": {}}],
        canary={
            "stableService": STABLE,
            "canaryService": CANARY,
            "trafficRouting": {"istio": routing},
        },
    )
    status = harness.wait_status("degraded", phase="Degraded")
    assert re.search(problem, status["message"]), status["message"]
    reasons = {c["type"]: c["reason"] for c in status["conditions"]}
    assert reasons["Progressing"] == "TrafficRoutingFailed"
    assert harness.replica_sets() == {}
    deployment = harness.deployment()
    assert (deployment.spec.replicas, bool(deployment.spec.paused)) == (2, False)


def test_a_missing_istio_api_is_a_route_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API-level. The router asks discovery for the group: an API server without
    Istio's CRDs (a group it does not serve) gives a RouteError saying so."""
    monkeypatch.setattr(istio_module, "GROUP", "networking.istio.invalid")
    router = istio_module.IstioRouter(harness.kube.api())
    target = RouteTarget(
        namespace=harness.namespace,
        rollout="web",
        stable=Revision("abc"),
        canary=None,
        routing=TrafficRouting.model_validate(ISTIO_ROUTING["trafficRouting"]),
        stable_service=STABLE,
        canary_service=CANARY,
    )
    with pytest.raises(RouteError, match=r"networking\.istio\.invalid API is not served"):
        router.check(target)


def test_deleting_the_rollout_restores_the_stable_and_removes_only_what_it_made(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. Mid-canary, with a header route and DestinationRule subsets: deleting
    the Rollout leaves the VirtualService exactly as the user wrote it (100/0, no
    header route), the subsets without the revision label, the Services' selectors
    without it."""
    before = istio.create_virtual_service(user_http(harness.namespace, subsets=True))
    rule_before = istio.create_destination_rule()
    harness.start_controller()
    harness.create_rollout(
        steps=[
            {"setWeight": 30},
            {
                "setHeaderRoute": {
                    "name": "beta",
                    "match": [{"headerName": "x-b", "headerValue": {"regex": "^1"}}],
                }
            },
            {"pause": {}},
        ],
        canary=ISTIO_SUBSET_ROUTING,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = release_started(harness)
    harness.wait_status("paused", phase="Paused", currentStepIndex=2)
    assert istio.subset_revisions() == {"stable": v1, "canary": v2, "legacy": None}
    assert istio.get()["spec"]["http"][0]["name"] == "landinggear-beta"

    harness.kube.kubectl(
        "delete", "rollout/web", f"--namespace={harness.namespace}", "--timeout=60s"
    )
    assert istio.get()["spec"] == before["spec"]
    assert istio.get("destinationrules")["spec"] == rule_before["spec"]
    assert selector(harness, STABLE) == {"app": "web"}
    assert selector(harness, CANARY) == {"app": "web"}


class _Racing(istio_module.IstioRouter):
    """Someone edits the VirtualService between each of our reads and our patch."""

    edits = 0
    limit = 1

    def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = super()._get(plural, namespace, name)
        if plural == "virtualservices" and self.edits < self.limit:
            self.edits += 1
            self.world.json_patch(
                [{"op": "add", "path": "/spec/http/0/timeout", "value": f"{self.edits}s"}]
            )
        return found

    world: IstioWorld


def test_a_patch_planned_from_an_outdated_read_is_planned_again(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. The patch tests the resourceVersion it was planned from: an edit in
    between makes it fail as a whole, the router reads again and plans again, and the
    edit survives; an object that keeps changing is left to the next reconcile (409)."""
    istio.create_virtual_service(user_http(harness.namespace, subsets=False))
    router = _Racing(harness.kube.api())
    router.world = istio
    changes = router.set_weight(route_target(harness), 40)
    assert router.edits == 1
    assert any("route primary weights 60/40 (was 100/0)" in c for c in changes)
    vs = istio.get()
    assert weights(vs) == (60, 40)
    assert vs["spec"]["http"][0]["timeout"] == "1s"
    assert router.verify_weight(route_target(harness), 40)

    router.limit = 10
    with pytest.raises(ApiException) as caught:
        router.set_weight(route_target(harness), 10)
    assert caught.value.status == 409
    assert weights(istio.get()) == (60, 40)


def test_a_status_behind_the_generation_is_not_verified(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. Where Istio reports status.observedGeneration (its status writer is
    optional), a weight is verified only once that generation caught up."""
    istio.create_virtual_service(user_http(harness.namespace, subsets=False))
    router = istio_module.IstioRouter(harness.kube.api())
    router.set_weight(route_target(harness), 30)
    assert router.verify_weight(route_target(harness), 30)  # no status at all: the spec is read
    generation = istio.get()["metadata"]["generation"]
    status_path = f"virtualservices.{GROUP}/web"
    for observed, verified in ((generation - 1, False), (generation, True)):
        harness.kube.kubectl(
            "patch",
            status_path,
            f"--namespace={harness.namespace}",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"observedGeneration": observed}}),
        )
        assert router.verify_weight(route_target(harness), 30) is verified
