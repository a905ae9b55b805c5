"""Traffic plans: what a wanted canary weight means in pods and routes (pure).

The step machine decides a :class:`TrafficTarget` — the canary's percent of
traffic and whether the stable must stay at full size — and asks the Rollout's
:class:`TrafficPlan` what that takes: how many pods each ReplicaSet runs, which
router sets the routes (``SetCanaryWeight`` names it; the I/O layer's router of
that name applies and verifies the weight), and whether the data plane can serve
the target now as far as pods go.

Replica ratio is the plan used without a mesh or gateway: one Service selects
stable and canary pods, so the canary's share of traffic follows its share of
Ready pods. With ``trafficRouting`` the :class:`RouterPlan` is used: a router
(Gateway API, Istio, NGINX) sets exact weights between two Services, the stable
keeps its full size until the promotion, the canary runs as many pods as its
weight (or a ``setCanaryScale`` step) asks, and after a promotion the previous
revision stays warm at weight 0 while the guard runs, so a guard failure is a
route flip, not a pod start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from controller.api.routing import SetCanaryScale, SetHeaderRoute
from controller.api.v1alpha1 import Rollout, Step
from controller.core.world import ReplicaSetView

REPLICA_RATIO = "replica-ratio"


@dataclass(frozen=True, kw_only=True)
class TrafficTarget:
    """The traffic the step machine wants now."""

    weight: int
    """Percent of requests for the canary, 0 to 100."""
    stable_full: bool = True
    """The stable keeps its full size (so it can take all traffic back at once)."""
    scale: SetCanaryScale | None = None
    """A ``setCanaryScale`` in force (routers only): canary pods apart from the weight."""


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """Pods each ReplicaSet runs for a target."""

    canary: int
    stable: int


class TrafficPlan(Protocol):
    """How one kind of traffic management realises a :class:`TrafficTarget`."""

    @property
    def router(self) -> str:
        """Name of the router (I/O layer) that sets and verifies the routes."""

    @property
    def routed(self) -> bool:
        """A router sets exact weights: the routes are re-applied (drift repaired) on
        every reconcile, and the previous revision stays warm while the guard runs."""

    def sizes(self, target: TrafficTarget, *, replicas: int) -> Sizes:
        """ReplicaSet sizes for ``target`` when the Rollout wants ``replicas`` pods."""

    def serves(
        self, target: TrafficTarget, *, replicas: int, canary: ReplicaSetView | None
    ) -> bool:
        """Whether the pods for ``target`` are up, so its weight can be recorded as reached.

        Routes are verified by the router when the weight is set; this is the pods' side.
        """


def canary_replicas(weight: int, replicas: int) -> int:
    """Pods for the canary at ``weight`` percent: ``ceil(weight * replicas / 100)``."""
    return math.ceil(weight * replicas / 100)


@dataclass(frozen=True)
class ReplicaRatioPlan:
    """Traffic follows Ready pods behind one Service.

    The canary runs ``ceil(weight * replicas / 100)`` pods; the stable stays at
    ``replicas`` while ``stable_full`` (the core always asks for that: the stable
    never has fewer Ready pods than desired while a canary runs), else it runs
    the rest. The Service itself has nothing to route.
    """

    router: str = REPLICA_RATIO
    routed: bool = False

    def sizes(self, target: TrafficTarget, *, replicas: int) -> Sizes:
        canary = canary_replicas(target.weight, replicas)
        stable = replicas if target.stable_full else max(0, replicas - canary)
        return Sizes(canary=canary, stable=stable)

    def serves(
        self, target: TrafficTarget, *, replicas: int, canary: ReplicaSetView | None
    ) -> bool:
        want = self.sizes(target, replicas=replicas).canary
        return (
            canary is not None
            and canary.status_current
            and canary.replicas >= want
            and canary.available_replicas >= want
        )


@dataclass(frozen=True)
class RouterPlan:
    """A router sets the weights; pods only have to be there to take them.

    The stable always runs ``replicas`` pods (it takes every request back at once);
    the canary runs ``ceil(weight * replicas / 100)``, or what a ``setCanaryScale``
    in force says (``replicas``, or ``weight`` percent of ``replicas``).
    """

    router: str
    routed: bool = True

    def sizes(self, target: TrafficTarget, *, replicas: int) -> Sizes:
        scale = target.scale
        if scale is None or scale.match_traffic_weight:
            canary = canary_replicas(target.weight, replicas)
        elif scale.replicas is not None:
            canary = scale.replicas
        else:
            canary = canary_replicas(scale.weight or 0, replicas)
        return Sizes(canary=canary, stable=replicas)

    def serves(
        self, target: TrafficTarget, *, replicas: int, canary: ReplicaSetView | None
    ) -> bool:
        want = self.sizes(target, replicas=replicas).canary
        if want == 0:
            return True
        return (
            canary is not None
            and canary.status_current
            and canary.replicas >= want
            and canary.available_replicas >= want
        )


def plan_for(rollout: Rollout) -> TrafficPlan:
    """The traffic plan of ``rollout``: its router's, else replica ratio."""
    routing = rollout.spec.strategy.canary.traffic_routing
    if routing is None:
        return ReplicaRatioPlan()
    return RouterPlan(router=routing.kind.value)


def scale_in_force(steps: list[Step], index: int) -> SetCanaryScale | None:
    """The last ``setCanaryScale`` at or before step ``index`` (None past the last step:
    the promotion runs the canary in full)."""
    if index >= len(steps):
        return None
    for step in reversed(steps[: index + 1]):
        if step.set_canary_scale is not None:
            return step.set_canary_scale
    return None


def header_routes_in_force(steps: list[Step], index: int) -> tuple[SetHeaderRoute, ...]:
    """Header routes wanted at step ``index``: per name, the last ``setHeaderRoute`` at or
    before it, unless that one removes the route (no ``match``); none past the last step."""
    if index >= len(steps):
        return ()
    wanted: dict[str, SetHeaderRoute] = {}
    for step in steps[: index + 1]:
        route = step.set_header_route
        if route is None:
            continue
        if route.match:
            wanted[route.name] = route
        else:
            wanted.pop(route.name, None)
    return tuple(sorted(wanted.values(), key=lambda r: r.name))
