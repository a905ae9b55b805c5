"""Traffic plans: what a wanted canary weight means in pods and routes (pure).

The step machine decides a :class:`TrafficTarget` — the canary's percent of
traffic and whether the stable must stay at full size — and asks the Rollout's
:class:`TrafficPlan` what that takes: how many pods each ReplicaSet runs, which
router sets the routes (``SetCanaryWeight`` names it; the I/O layer's router of
that name applies and verifies the weight), and whether the data plane can serve
the target now as far as pods go.

Replica ratio is the plan used without a mesh or gateway: one Service selects
stable and canary pods, so the canary's share of traffic follows its share of
Ready pods. Plans for routers (Gateway API, Istio, NGINX …) go here beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from controller.api.v1alpha1 import Rollout
from controller.core.world import ReplicaSetView

REPLICA_RATIO = "replica-ratio"


@dataclass(frozen=True, kw_only=True)
class TrafficTarget:
    """The traffic the step machine wants now."""

    weight: int
    """Percent of requests for the canary, 0 to 100."""
    stable_full: bool = True
    """The stable keeps its full size (so it can take all traffic back at once)."""


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


def plan_for(rollout: Rollout) -> TrafficPlan:
    """The traffic plan of ``rollout``: replica ratio until routers are configurable."""
    del rollout
    return ReplicaRatioPlan()
