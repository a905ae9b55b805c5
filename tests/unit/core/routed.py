"""Sims whose Rollout routes through a router: the route's state is modelled too.

A fake by design (pure-core tests need no API server): the route is what the
last ``SetCanaryWeight`` asked for, as a router would leave it once verified —
the stable Service on ``stable``, the canary Service on ``canary`` (the stable
when there is none), ``weight`` percent to the canary, and the header routes.
Each action is checked as it is applied: no ReplicaSet that still takes traffic
is scaled to zero.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from controller.api.routing import SetHeaderRoute
from controller.core.actions import EnsureReplicaSet, SetCanaryWeight
from controller.core.revisions import Revision
from controller.core.world import World
from tests.unit.core.analysed import AnalysedSim
from tests.unit.core.sim import Sim

ROUTING: dict[str, Any] = {
    "stableService": "web-stable",
    "canaryService": "web-canary",
    "trafficRouting": {"gatewayAPI": {"httpRoutes": [{"name": "web"}]}},
}


@dataclass(frozen=True)
class Route:
    stable: Revision
    canary: Revision
    weight: int
    headers: tuple[SetHeaderRoute, ...] = ()

    def share(self, revision: Revision) -> int:
        """Percent of unmarked requests ``revision`` gets."""
        if self.stable == self.canary == revision:
            return 100
        if revision == self.canary:
            return self.weight
        if revision == self.stable:
            return 100 - self.weight
        return 0

    def serves(self, revision: Revision) -> bool:
        """Whether any request (weighted or by header) may reach ``revision``."""
        return self.share(revision) > 0 or (bool(self.headers) and revision == self.canary)


@dataclass
class RoutedSim(Sim):
    """A sim whose Rollout routes through a router: the route model, and a routing
    problem for the world."""

    route: Route | None = None
    routes: list[Route] = field(default_factory=list)
    """Every route change, in order (equal consecutive ones once)."""
    asked: int = 0
    """SetCanaryWeight actions seen (the route is asked on every holding reconcile)."""
    routing_problem: str | None = None
    scaled_down_with_traffic: list[str] = field(default_factory=list)
    false_repairs: list[str] = field(default_factory=list)
    """Routes marked ``reached`` that differ from the route in force: a router would
    report the change as a repair of someone else's edit."""

    def canary_extra(self) -> dict[str, Any]:
        return {**super().canary_extra(), **ROUTING}

    def world(self) -> World:
        return dataclasses.replace(super().world(), routing_problem=self.routing_problem)

    def apply(self, action: object) -> None:
        _record(self, action)
        super().apply(action)


def _record(sim: RoutedSim, action: object) -> None:
    if isinstance(action, SetCanaryWeight):
        sim.asked += 1
        route = Route(
            stable=action.stable,
            canary=action.canary or action.stable,
            weight=action.weight,
            headers=action.header_routes,
        )
        if route != sim.route:
            sim.routes.append(route)
            if action.reached and sim.route is not None:
                sim.false_repairs.append(f"{sim.route} -> {route}")
        sim.route = route
    if isinstance(action, EnsureReplicaSet) and sim.route is not None:
        rs = sim.replica_sets.get(action.revision)
        if (
            rs is not None
            and rs.replicas
            and not action.replicas
            and sim.route.serves(action.revision)
        ):
            sim.scaled_down_with_traffic.append(
                f"{action.revision} to {action.replicas} while routed {sim.route}"
            )


@dataclass
class RoutedAnalysedSim(RoutedSim, AnalysedSim):
    """An analysed sim whose Rollout routes through a router."""
