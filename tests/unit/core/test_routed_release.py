"""Releases through a router (pure core): exact weights, a full stable, header routes,
``setCanaryScale``, abort ordering, the warm previous revision, broken routes.

The route is modelled by :mod:`tests.unit.core.routed`; the API-level behaviour of
each router is tested against the real CRDs in ``tests/cluster``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as s

from controller.api.reasons import ConditionReason, EventReason
from controller.api.routing import SetCanaryScale
from controller.api.v1alpha1 import CanaryStrategy, HistoryAction, Phase, Rollout, Step
from controller.core.actions import EnsureReplicaSet, SetCanaryWeight
from controller.core.revisions import Revision
from controller.core.traffic import (
    RouterPlan,
    TrafficTarget,
    canary_replicas,
    header_routes_in_force,
    plan_for,
    scale_in_force,
)
from controller.core.world import Verb
from tests.unit.core.analysed import COMPARISON, Traffic
from tests.unit.core.routed import ROUTING, Route, RoutedAnalysedSim, RoutedSim

BETA = {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]}
STEPS: list[dict[str, Any]] = [
    {"setCanaryScale": {"replicas": 1}},
    {"setHeaderRoute": BETA},
    {"pause": {}},
    {"setWeight": 5},
    {"setCanaryScale": {"matchTrafficWeight": True}},
    {"pause": {"duration": "10s"}},
    {"setHeaderRoute": {"name": "beta"}},
    {"setWeight": 50},
    {"pause": {}},
]


def settled(steps: list[dict[str, Any]] | None = None, replicas: int = 10) -> RoutedSim:
    sim = RoutedSim(steps=STEPS if steps is None else steps, replicas=replicas)
    sim.settle()
    assert sim.status.phase is Phase.HEALTHY
    return sim


def run(sim: RoutedSim, rounds: int = 3) -> None:
    for _ in range(rounds):
        sim.reconcile()
        sim.pods_ready()
    sim.reconcile()


def test_the_plan_of_a_rollout_with_traffic_routing_is_its_router_s() -> None:
    rollout = Rollout.model_validate(
        {
            "name": "web",
            "namespace": "shop",
            "spec": {
                "workloadRef": {"name": "web"},
                "strategy": {"canary": {"steps": [], **ROUTING}},
            },
        }
    )
    plan = plan_for(rollout)
    assert plan == RouterPlan(router="gatewayAPI")
    assert plan.routed


@given(weight=s.integers(0, 100), replicas=s.integers(1, 60))
def test_a_router_keeps_the_stable_full_and_sizes_the_canary_by_its_weight(
    weight: int, replicas: int
) -> None:
    sizes = RouterPlan(router="istio").sizes(TrafficTarget(weight=weight), replicas=replicas)
    assert sizes.stable == replicas
    assert sizes.canary == canary_replicas(weight, replicas)


@given(
    weight=s.integers(0, 100),
    replicas=s.integers(1, 60),
    scale=s.one_of(
        s.builds(lambda n: SetCanaryScale(replicas=n), s.integers(0, 100)),
        s.builds(lambda w: SetCanaryScale(weight=w), s.integers(0, 100)),
        s.just(SetCanaryScale(match_traffic_weight=True)),
    ),
)
def test_set_canary_scale_sizes_the_canary_apart_from_its_weight(
    weight: int, replicas: int, scale: SetCanaryScale
) -> None:
    sizes = RouterPlan(router="nginx").sizes(
        TrafficTarget(weight=weight, scale=scale), replicas=replicas
    )
    assert sizes.stable == replicas
    if scale.replicas is not None:
        assert sizes.canary == scale.replicas
    elif scale.weight is not None:
        assert sizes.canary == canary_replicas(scale.weight, replicas)
    else:
        assert sizes.canary == canary_replicas(weight, replicas)


def test_scale_and_header_routes_in_force_follow_the_steps() -> None:
    steps = [Step.model_validate(x) for x in STEPS]
    assert [scale_in_force(steps, i) is not None for i in range(len(steps) + 1)] == [
        *[True] * 9,
        False,  # the promotion runs the canary in full
    ]
    assert scale_in_force(steps, 4) == SetCanaryScale(match_traffic_weight=True)
    names = [[r.name for r in header_routes_in_force(steps, i)] for i in range(len(steps) + 1)]
    assert names == [[], ["beta"], ["beta"], ["beta"], ["beta"], ["beta"], [], [], [], []]


def test_a_release_walks_exact_weights_with_the_stable_full() -> None:
    sim = settled()
    v1 = sim.revision
    sim.set_image("web:v2")
    v2 = sim.revision
    run(sim)
    # setCanaryScale 1, then the header route; paused with 0 % weight.
    assert sim.status.phase is Phase.PAUSED
    assert sim.status.current_step_index == 2
    assert sim.rs_replicas(v2) == 1
    assert sim.rs_replicas(v1) == 10
    assert sim.route is not None
    assert (sim.route.weight, sim.route.canary, sim.route.stable) == (0, v2, v1)
    assert [h.name for h in sim.route.headers] == ["beta"]
    assert [h.name for h in sim.status.header_routes] == ["beta"]

    sim.request(Verb.PROMOTE)
    run(sim)
    # setWeight 5 on 10 replicas: exactly 5 %, not the 10 % one pod of ten would give.
    assert sim.route.weight == 5
    assert sim.status.canary_weight == 5
    assert sim.rs_replicas(v2) == 1
    assert sim.rs_replicas(v1) == 10
    sim.advance(10)
    run(sim)
    assert sim.status.current_step_index == 8
    assert sim.route.weight == 50
    assert sim.route.headers == ()
    assert sim.rs_replicas(v2) == 5
    assert sim.rs_replicas(v1) == 10

    sim.request(Verb.PROMOTE)
    run(sim)
    assert sim.status.stable_revision == v2
    assert sim.route == Route(stable=v2, canary=v2, weight=0)
    assert sim.rs_replicas(v1) == 0  # no guard: the previous revision goes at once
    walked = [
        (r.weight, [h.name for h in r.headers])
        for r in sim.routes
        if r.canary == v2 and r.stable == v1
    ]
    assert walked == [(0, []), (0, ["beta"]), (5, ["beta"]), (5, []), (50, [])]
    assert not sim.scaled_down_with_traffic


def test_the_route_is_asked_on_every_holding_reconcile_so_hand_edits_are_repaired() -> None:
    sim = settled()
    sim.set_image("web:v2")
    run(sim)
    asked = sim.asked
    decision = sim.reconcile()
    routes = [a for a in decision.actions if isinstance(a, SetCanaryWeight)]
    assert sim.asked == asked + 1
    assert [r.reached for r in routes] == [True]  # a change now would undo someone's edit


def test_an_abort_routes_everything_to_the_stable_before_scaling_the_canary_down() -> None:
    sim = settled()
    v1 = sim.revision
    sim.set_image("web:v2")
    v2 = sim.revision
    run(sim)
    sim.request(Verb.PROMOTE)
    run(sim)
    assert sim.route is not None
    assert sim.route.weight == 5
    sim.request(Verb.ABORT)
    decision = sim.reconcile()
    kinds = [
        (type(a).__name__, getattr(a, "weight", getattr(a, "replicas", None)))
        for a in decision.actions
        if isinstance(a, SetCanaryWeight | EnsureReplicaSet)
    ]
    assert kinds.index(("SetCanaryWeight", 0)) < kinds.index(("EnsureReplicaSet", 0))
    assert sim.route == Route(stable=v1, canary=v1, weight=0)
    assert sim.rs_replicas(v2) == 0
    assert sim.rs_replicas(v1) == 10
    assert not sim.scaled_down_with_traffic
    assert sim.status.header_routes == []


def test_a_superseded_canary_loses_its_traffic_before_its_pods() -> None:
    sim = settled([{"setWeight": 50}, {"pause": {}}], replicas=4)
    v1 = sim.revision
    sim.set_image("web:v2")
    run(sim)
    assert sim.route == Route(stable=v1, canary=sim.revision, weight=50)
    sim.set_image("web:v3")
    sim.reconcile()
    assert not sim.scaled_down_with_traffic
    run(sim)
    assert sim.route == Route(stable=v1, canary=sim.revision, weight=50)


def test_broken_routes_change_nothing_and_say_why_once() -> None:
    sim = settled()
    sim.routing_problem = "HTTPRoute shop/web not found: create it, or fix trafficRouting"
    sim.set_image("web:v2")
    first = sim.reconcile()
    second = sim.reconcile()
    assert first.actions == second.actions == ()
    assert sim.status.phase is Phase.DEGRADED
    assert "HTTPRoute shop/web not found" in sim.status.message
    progressing = next(c for c in sim.status.conditions if c.type == "Progressing")
    assert progressing.reason == ConditionReason.TRAFFIC_ROUTING_FAILED
    assert [e.reason for e in first.events] == [EventReason.TRAFFIC_ROUTING_FAILED]
    assert second.events == ()
    assert second.requeue_after == 10
    assert sim.status.canary_revision is None  # the release has not started

    sim.routing_problem = None
    run(sim)
    after = sim.rollout().status
    assert (after.canary_revision, after.phase) == (sim.revision, Phase.PAUSED)


def guarded() -> tuple[RoutedAnalysedSim, Revision, Revision]:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "20s"}}]
    spec = {"metrics": [COMPARISON], "interval": "2s", "guard": {"duration": "60s"}}
    sim = RoutedAnalysedSim(
        steps=steps,
        replicas=4,
        analysis_spec=spec,
        traffic=Traffic(rps=100, bad_rate={}),
    )
    sim.settle()
    v1 = sim.revision
    sim.set_image("web:v2")
    sim.run(30)
    assert sim.status.stable_revision == sim.revision
    return sim, v1, sim.revision


def test_the_previous_revision_stays_warm_while_the_guard_runs_then_goes() -> None:
    sim, v1, v2 = guarded()
    assert sim.rs_replicas(v1) == 4
    assert sim.available(v1) == 4
    assert sim.route == Route(stable=v2, canary=v2, weight=0)
    sim.run(70)
    assert any(h.action is HistoryAction.PROMOTED for h in sim.status.history)
    assert sim.status.stable_revision == v2
    assert sim.rs_replicas(v1) == 0


def test_a_guard_failure_is_a_route_flip_not_a_pod_start() -> None:
    sim, v1, v2 = guarded()
    sim.traffic.bad_rate[v2] = 0.3
    flipped_at = None
    for second in range(60):
        sim.advance(1)
        sim.reconcile()  # no pods become Ready: the flip must not need any
        if sim.status.stable_revision == v1:
            flipped_at = second
            break
    assert flipped_at is not None, sim.status.message
    assert sim.route == Route(stable=v1, canary=v1, weight=0)
    assert sim.status.history[-1].action is HistoryAction.ROLLED_BACK
    assert not sim.scaled_down_with_traffic


def test_nginx_takes_one_header_route_name() -> None:
    route = {"match": [{"headerName": "x", "headerValue": {"exact": "1"}}]}
    nginx: dict[str, Any] = {
        "stableService": "a",
        "canaryService": "b",
        "trafficRouting": {"nginx": {"stableIngress": "web"}},
    }
    one = [{"setHeaderRoute": {"name": "qa", **route}}, {"setHeaderRoute": {"name": "qa"}}]
    CanaryStrategy.model_validate({**nginx, "steps": one})
    two = [
        {"setHeaderRoute": {"name": "qa", **route}},
        {"setHeaderRoute": {"name": "beta", **route}},
    ]
    with pytest.raises(ValueError, match="must name the same route"):
        CanaryStrategy.model_validate({**nginx, "steps": two})


def test_istio_by_subsets_needs_no_services_but_by_hosts_does() -> None:
    vs = {"virtualService": {"name": "web"}}
    rule = {"name": "web", "stableSubset": "stable", "canarySubset": "canary"}
    by_subsets = {"trafficRouting": {"istio": {**vs, "destinationRule": rule}}}
    assert CanaryStrategy.model_validate(by_subsets).stable_service is None
    with pytest.raises(ValueError, match="needs stableService and canaryService"):
        CanaryStrategy.model_validate({"trafficRouting": {"istio": vs}})


def test_a_replica_ratio_rollout_may_not_use_router_steps() -> None:
    with pytest.raises(ValueError, match="need trafficRouting"):
        CanaryStrategy.model_validate({"steps": [{"setCanaryScale": {"replicas": 1}}]})
    with pytest.raises(ValueError, match="two different"):
        CanaryStrategy.model_validate({**ROUTING, "canaryService": "web-stable"})
    with pytest.raises(ValueError, match="one header"):
        CanaryStrategy.model_validate(
            {
                "stableService": "a",
                "canaryService": "b",
                "trafficRouting": {"nginx": {"stableIngress": "web"}},
                "steps": [
                    {
                        "setHeaderRoute": {
                            "name": "x",
                            "match": [{"headerName": "x", "headerValue": {"prefix": "1"}}],
                        }
                    }
                ],
            }
        )


_PAUSE: s.SearchStrategy[dict[str, Any]] = s.one_of(
    s.builds(lambda d: {"pause": {"duration": f"{d}s"}}, s.integers(1, 60)), s.just({"pause": {}})
)
_BLOCK = s.one_of(
    # A weight is held (and routed) only at a pause after it: most blocks are such pairs.
    s.tuples(s.builds(lambda w: {"setWeight": w}, s.integers(1, 100)), _PAUSE).map(list),
    s.tuples(s.builds(lambda n: {"setCanaryScale": {"replicas": n}}, s.integers(0, 5))).map(list),
    s.just([{"setCanaryScale": {"matchTrafficWeight": True}}]),
    s.just([{"setHeaderRoute": BETA}]),
    s.just([{"setHeaderRoute": {"name": "beta"}}]),
    s.tuples(_PAUSE).map(list),
)
routed_steps = s.lists(_BLOCK, min_size=1, max_size=4).map(
    lambda blocks: [x for b in blocks for x in b]
)
_EVENTS: dict[str, s.SearchStrategy[Any]] = {
    "reconcile": s.just(0),
    "ready": s.one_of(s.none(), s.integers(1, 2)),
    "advance": s.integers(0, 90),
    "image": s.sampled_from(["web:v1", "web:v2", "web:v3"]),
    "request": s.sampled_from([Verb.PROMOTE, Verb.ABORT, Verb.RETRY]),
}
_KINDS = [*["reconcile"] * 6, *["ready"] * 4, *["advance"] * 2, *["image"] * 2, "request"]
events = s.lists(
    s.sampled_from(_KINDS).flatmap(lambda kind: s.tuples(s.just(kind), _EVENTS[kind])),
    min_size=10,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(steps=routed_steps, script=events)
def test_through_any_events_traffic_never_reaches_a_scaled_down_revision(
    steps: list[dict[str, Any]], script: list[tuple[str, Any]]
) -> None:
    """Over arbitrary events: nothing that takes traffic is scaled down; the stable runs
    in full whenever a canary runs; the recorded weight is the route's."""
    sim = settled(steps, replicas=4)
    for kind, value in script:
        match kind:
            case "reconcile":
                sim.reconcile()
            case "ready":
                sim.pods_ready(limit=value)
            case "advance":
                sim.advance(value)
            case "image":
                sim.set_image(value)
            case _:
                sim.request(value)
        assert not sim.scaled_down_with_traffic, sim.scaled_down_with_traffic
        assert not sim.false_repairs, sim.false_repairs
        status = sim.status
        if sim.route is not None and kind == "reconcile":
            assert status.canary_weight == sim.route.weight
            assert tuple(status.header_routes) == sim.route.headers
        if status.canary_revision is not None and kind == "reconcile":
            assert sim.rs_replicas(status.stable_revision) == sim.replicas
    run(sim, rounds=12)
    assert sim.status.phase in (Phase.HEALTHY, Phase.DEGRADED, Phase.PAUSED)
