"""The Istio router through a release, against the real API server with Istio's own
CRDs (istio.io/api): each step's weight by host and by DestinationRule subset, a
header route, an abort.

API-level: no Istio control or data plane runs here, so these tests prove what the
VirtualService, DestinationRule and Services say at each moment (read back, and
watched), not what Envoy would do with them. The objects and the ``istio`` fixture's
world: :mod:`tests.support.routes_istio`.
"""

from __future__ import annotations

import pytest

from controller.core.revisions import REVISION_LABEL
from tests.support.routes_istio import (
    CANARY,
    ISTIO_ROUTING,
    ISTIO_SUBSET_ROUTING,
    STABLE,
    IstioWorld,
    owned_out,
    release_started,
    selector,
    user_http,
    weights,
)
from tests.support.scenario import Harness
from tests.support.waiting import eventually


@pytest.mark.parametrize("subsets", [False, True], ids=["by-host", "by-subset"])
def test_a_release_sets_each_steps_weight_exactly_and_nothing_else(
    harness: Harness, istio: IstioWorld, subsets: bool
) -> None:
    """API-level. Each step's setWeight appears on the primary route exactly, in order;
    every other route, match, header, retry, port and the DestinationRule's own fields
    stay as the user wrote them in every version the route went through."""
    before = istio.create_virtual_service(user_http(harness.namespace, subsets=subsets))
    rule_before = istio.create_destination_rule() if subsets else None
    harness.start_controller()
    harness.create_rollout(
        steps=[
            {"setWeight": 20},
            {"pause": {"duration": "1s"}},
            {"setWeight": 50},
            {"pause": {"duration": "1s"}},
            {"setWeight": 80},
            {"pause": {"duration": "1s"}},
        ],
        canary=ISTIO_SUBSET_ROUTING if subsets else ISTIO_ROUTING,
    )
    harness.wait_status("adopted", phase="Healthy")
    recorder = istio.record("virtualservices")
    harness.set_image("web:v2")
    v2 = release_started(harness)
    harness.wait_status("promoted", timeout=90, phase="Healthy", stableRevision=v2)
    seen = istio.stop(recorder)

    canary_weights = [weights(vs)[1] for _, vs in seen]
    steps = [w for i, w in enumerate(canary_weights) if i == 0 or w != canary_weights[i - 1]]
    assert steps == [0, 20, 50, 80, 0]
    assert all(sum(weights(vs)) == 100 for _, vs in seen)
    assert all(owned_out(vs) == owned_out(before) for _, vs in seen)
    after = istio.get()
    assert after["spec"] == before["spec"]  # back at 100/0: not one byte differs
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    if rule_before is not None:
        rule = istio.get("destinationrules")
        assert istio.subset_revisions() == {"stable": v2, "canary": v2, "legacy": None}
        for subset in rule["spec"]["subsets"]:
            subset.get("labels", {}).pop(REVISION_LABEL, None)
        assert rule["spec"] == rule_before["spec"]
    else:
        assert selector(harness, STABLE) == {"app": "web", REVISION_LABEL: v2}
        assert selector(harness, CANARY) == {"app": "web", REVISION_LABEL: v2}


def test_a_header_route_goes_first_and_goes_at_promotion(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. setHeaderRoute puts the controller's route first in spec.http, with the
    header match combined with the weighted route's uri match, all to the canary
    destination; the promotion removes it and leaves the user's routes as they were."""
    before = istio.create_virtual_service(user_http(harness.namespace, subsets=False))
    harness.start_controller()
    harness.create_rollout(
        steps=[
            {"setWeight": 10},
            {
                "setHeaderRoute": {
                    "name": "beta",
                    "match": [
                        {"headerName": "X-Canary", "headerValue": {"exact": "yes"}},
                        {"headerName": "x-team", "headerValue": {"prefix": "shop"}},
                    ],
                }
            },
            {"pause": {}},
        ],
        canary=ISTIO_ROUTING,
    )
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    v2 = release_started(harness)
    harness.wait_status("paused with the header route", phase="Paused", currentStepIndex=2)
    http = istio.get()["spec"]["http"]
    canary = {"host": f"{CANARY}.{harness.namespace}.svc.cluster.local", "port": {"number": 80}}
    assert http[0] == {
        "name": "landinggear-beta",
        "match": [
            {
                "headers": {"x-canary": {"exact": "yes"}, "x-team": {"prefix": "shop"}},
                "uri": {"prefix": "/"},
            }
        ],
        "route": [{"destination": canary, "weight": 100}],
    }
    assert weights(istio.get()) == (90, 10)
    assert http[1:] == [
        {**r, "route": [{**d, "weight": w} for d, w in zip(r["route"], (90, 10), strict=True)]}
        if r["name"] == "primary"
        else r
        for r in before["spec"]["http"]
    ]

    harness.cli("promote", "web")
    harness.wait_status("promoted", timeout=60, phase="Healthy", stableRevision=v2)
    assert istio.get()["spec"] == before["spec"]


def test_an_abort_routes_everything_to_the_stable_before_the_canary_scales_down(
    harness: Harness, istio: IstioWorld
) -> None:
    """API-level. On abort the route's weight-0 version comes before (a lower
    resourceVersion than) the canary ReplicaSet's scale-down; header routes go too."""
    istio.create_virtual_service(user_http(harness.namespace, subsets=False))
    harness.start_controller()
    harness.create_rollout(
        steps=[
            {"setWeight": 50},
            {
                "setHeaderRoute": {
                    "name": "beta",
                    "match": [{"headerName": "x-b", "headerValue": {"exact": "1"}}],
                }
            },
            {"pause": {}},
        ],
        canary=ISTIO_ROUTING,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = release_started(harness)
    harness.wait_status("at 50 %", phase="Paused", canaryWeight=50)
    routes = istio.record("virtualservices")
    sets = istio.record("replicasets")
    harness.cli("abort", "web", "--reason", "checkout errors")
    harness.wait_status("aborted", phase="Degraded", blockedRevision=v2)
    eventually(lambda: harness.replica_sets()[v2][0] == 0, timeout=30, what="canary scaled down")
    route_events, set_events = istio.stop(routes), istio.stop(sets)

    to_stable = min(
        rv
        for rv, vs in route_events
        if weights(vs) == (100, 0)
        and not any(r["name"].startswith("landinggear-") for r in vs["spec"]["http"])
    )
    canary_down = min(
        rv
        for rv, rs in set_events
        if rs["metadata"]["labels"].get(REVISION_LABEL) == v2 and rs["spec"]["replicas"] == 0
    )
    assert to_stable < canary_down
    assert all(weights(vs) == (50, 50) for rv, vs in route_events if rv < to_stable)
    assert harness.replica_sets()[v1] == (2, 2)
