"""The replica-ratio traffic plan: pods per ReplicaSet for a canary weight, and when they serve.

Without a router, the canary's share of traffic is its share of Ready pods behind
one Service, so the plan's sizes are the traffic. Checked with hypothesis and,
since the space is small, exhaustively over weights 0..100 and replicas 1..50.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as s

from controller.api.v1alpha1 import Rollout
from controller.core.revisions import Revision
from controller.core.traffic import (
    REPLICA_RATIO,
    ReplicaRatioPlan,
    Sizes,
    TrafficPlan,
    TrafficTarget,
    canary_replicas,
    plan_for,
)
from controller.core.world import ReplicaSetView
from controller.traffic.replica_ratio import ReplicaRatioRouter

PLAN = ReplicaRatioPlan()
WEIGHTS = range(101)
REPLICAS = range(1, 51)

weights = s.integers(0, 100)
replica_counts = s.integers(1, 50)


def ceil_share(weight: int, replicas: int) -> int:
    """``ceil(weight * replicas / 100)`` in integers (no float on the way)."""
    return -(-weight * replicas // 100)


def canary_rs(*, replicas: int, available: int, current: bool = True) -> ReplicaSetView:
    return ReplicaSetView(
        name="web-abcde12345",
        revision=Revision("abcde12345"),
        replicas=replicas,
        ready_replicas=available,
        available_replicas=available,
        status_current=current,
    )


def check_sizes(weight: int, replicas: int) -> None:
    """The two main invariants of :meth:`ReplicaRatioPlan.sizes`."""
    full = PLAN.sizes(TrafficTarget(weight=weight), replicas=replicas)
    shared = PLAN.sizes(TrafficTarget(weight=weight, stable_full=False), replicas=replicas)
    want = ceil_share(weight, replicas)
    # The canary's share, rounded up, exactly; the same whether the stable stays full.
    assert full.canary == shared.canary == canary_replicas(weight, replicas) == want
    # The stable keeps every desired pod while the canary runs, or runs the rest.
    assert full.stable == replicas
    assert shared.canary + shared.stable == replicas
    assert shared.stable >= 0


# ---------------------------------------------------------------------- sizes


def test_the_default_target_keeps_the_stable_full() -> None:
    assert TrafficTarget(weight=30).stable_full is True


@given(weights, replica_counts)
def test_the_canary_runs_its_share_of_pods_rounded_up(weight: int, replicas: int) -> None:
    canary = PLAN.sizes(TrafficTarget(weight=weight), replicas=replicas).canary
    assert canary == ceil_share(weight, replicas)
    # Enough pods for its share …
    assert canary * 100 >= weight * replicas
    # … and never a whole pod more than its share rounded up.
    assert (canary - 1) * 100 < weight * replicas or canary == 0
    assert 0 <= canary <= replicas


@given(replica_counts)
def test_no_canary_pods_at_weight_0_and_all_at_weight_100(replicas: int) -> None:
    for stable_full in (True, False):
        none = PLAN.sizes(TrafficTarget(weight=0, stable_full=stable_full), replicas=replicas)
        every = PLAN.sizes(TrafficTarget(weight=100, stable_full=stable_full), replicas=replicas)
        assert none.canary == 0
        assert every.canary == replicas
    assert PLAN.sizes(TrafficTarget(weight=0, stable_full=False), replicas=replicas) == Sizes(
        canary=0, stable=replicas
    )
    assert PLAN.sizes(TrafficTarget(weight=100, stable_full=False), replicas=replicas) == Sizes(
        canary=replicas, stable=0
    )


@given(weights, replica_counts)
def test_a_full_stable_never_drops_below_the_desired_replicas(weight: int, replicas: int) -> None:
    sizes = PLAN.sizes(TrafficTarget(weight=weight), replicas=replicas)
    assert sizes.stable >= replicas
    assert sizes == Sizes(canary=ceil_share(weight, replicas), stable=replicas)


@given(weights, replica_counts)
def test_a_shared_stable_runs_the_pods_the_canary_does_not(weight: int, replicas: int) -> None:
    sizes = PLAN.sizes(TrafficTarget(weight=weight, stable_full=False), replicas=replicas)
    assert sizes.canary + sizes.stable == replicas
    assert sizes.stable == replicas - ceil_share(weight, replicas)


@given(weights, weights, replica_counts)
def test_a_higher_weight_never_gives_fewer_canary_pods(a: int, b: int, replicas: int) -> None:
    low, high = sorted((a, b))
    assert (
        PLAN.sizes(TrafficTarget(weight=low), replicas=replicas).canary
        <= PLAN.sizes(TrafficTarget(weight=high), replicas=replicas).canary
    )


@pytest.mark.parametrize(
    ("weight", "replicas", "canary"),
    [
        (1, 1, 1),
        (1, 50, 1),
        (2, 50, 1),
        (3, 50, 2),
        (10, 4, 1),
        (25, 4, 1),
        (26, 4, 2),
        (50, 3, 2),
        (99, 50, 50),
        (98, 50, 49),
        (33, 3, 1),
        (34, 3, 2),
    ],
)
def test_known_canary_sizes(weight: int, replicas: int, canary: int) -> None:
    assert PLAN.sizes(TrafficTarget(weight=weight), replicas=replicas) == Sizes(
        canary=canary, stable=replicas
    )


def test_sizes_for_every_weight_and_replica_count() -> None:
    for replicas in REPLICAS:
        previous = 0
        for weight in WEIGHTS:
            check_sizes(weight, replicas)
            canary = PLAN.sizes(TrafficTarget(weight=weight), replicas=replicas).canary
            assert canary >= previous
            previous = canary
        assert previous == replicas


# --------------------------------------------------------------------- serves


@given(weights, replica_counts)
def test_no_canary_replica_set_never_serves(weight: int, replicas: int) -> None:
    assert PLAN.serves(TrafficTarget(weight=weight), replicas=replicas, canary=None) is False


@given(
    weights,
    replica_counts,
    s.integers(0, 60),
    s.integers(0, 60),
    s.booleans(),
    s.booleans(),
)
def test_the_canary_serves_once_its_pods_are_available(
    weight: int,
    replicas: int,
    rs_replicas: int,
    available: int,
    current: bool,
    stable_full: bool,
) -> None:
    target = TrafficTarget(weight=weight, stable_full=stable_full)
    want = ceil_share(weight, replicas)
    rs = canary_rs(replicas=rs_replicas, available=available, current=current)
    expected = current and rs_replicas >= want and available >= want
    assert PLAN.serves(target, replicas=replicas, canary=rs) is expected


def test_serves_at_a_quarter_of_four_pods() -> None:
    target = TrafficTarget(weight=25)  # one canary pod of four
    assert PLAN.serves(target, replicas=4, canary=canary_rs(replicas=1, available=1)) is True
    assert PLAN.serves(target, replicas=4, canary=canary_rs(replicas=3, available=2)) is True
    assert PLAN.serves(target, replicas=4, canary=canary_rs(replicas=1, available=0)) is False
    assert (
        PLAN.serves(target, replicas=4, canary=canary_rs(replicas=1, available=1, current=False))
        is False
    )
    # Available pods the ReplicaSet no longer asks for (scaled down) do not count.
    assert PLAN.serves(target, replicas=4, canary=canary_rs(replicas=0, available=1)) is False
    assert PLAN.serves(target, replicas=4, canary=None) is False


def test_a_higher_weight_needs_more_available_pods() -> None:
    rs = canary_rs(replicas=2, available=2)
    assert PLAN.serves(TrafficTarget(weight=50), replicas=4, canary=rs) is True
    assert PLAN.serves(TrafficTarget(weight=51), replicas=4, canary=rs) is False
    assert PLAN.serves(TrafficTarget(weight=100), replicas=4, canary=rs) is False


# ------------------------------------------------------------------- plan_for


def rollout(replicas: int | None, steps: list[dict[str, Any]]) -> Rollout:
    return Rollout.model_validate(
        {
            "name": "web",
            "namespace": "shop",
            "spec": {
                "workloadRef": {"name": "web"},
                "replicas": replicas,
                "strategy": {"canary": {"steps": steps}},
            },
        }
    )


steps_strategy = s.lists(
    s.one_of(
        s.builds(lambda w: {"setWeight": w}, weights),
        s.builds(lambda d: {"pause": {"duration": f"{d}s"}}, s.integers(1, 120)),
        s.just({"pause": {}}),
    ),
    max_size=6,
)


@given(s.one_of(s.none(), s.integers(0, 10000)), steps_strategy)
def test_every_rollout_gets_the_replica_ratio_plan_the_router_serves(
    replicas: int | None, steps: list[dict[str, Any]]
) -> None:
    plan: TrafficPlan = plan_for(rollout(replicas, steps))
    assert isinstance(plan, ReplicaRatioPlan)
    # The actuator looks routers up by the name the core puts on SetCanaryWeight.
    assert plan.router == ReplicaRatioRouter.name == REPLICA_RATIO == "replica-ratio"
