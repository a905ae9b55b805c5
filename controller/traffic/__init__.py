"""Traffic routers: how a canary weight becomes real traffic.

A router implements :class:`Router`. Without a mesh or gateway, the
:class:`~controller.traffic.replica_ratio.ReplicaRatioRouter` is used: one Service
selects stable and canary pods, so traffic follows the Ready pod counts the core
already sets, and there is nothing to route. With ``trafficRouting``, a router
(Gateway API, Istio, NGINX) points the stable and canary Services at the
revisions (:mod:`controller.traffic.services`) and sets exact weights on the
user's route objects, owning only the fields it sets.

Every router:

- ``check`` says what is missing (a CRD, the route, a rule naming the Services)
  before anything is changed, so a broken route never touches the workload;
- ``set_weight`` is idempotent, changes only the fields the controller owns
  (weights, its own header routes) and returns a description of each change it
  had to make — none when the objects already say what is wanted;
- ``verify_weight`` reads the objects back (and their status, where the
  implementation reports one): a weight counts as reached only then;
- ``remove_managed_routes`` routes everything to the stable and removes what the
  controller created (the Rollout is being deleted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.api.routing import SetHeaderRoute, TrafficRouting
from controller.core.revisions import Revision

__all__ = ["RouteError", "RouteTarget", "Router"]


class RouteError(Exception):
    """The routing the Rollout names cannot be used (missing CRD, route, rule or Service
    reference); the message says what is missing and what to do."""


@dataclass(frozen=True, kw_only=True)
class RouteTarget:
    """Which Rollout's traffic to shape, between which revisions, through which objects."""

    namespace: str
    rollout: str
    stable: Revision
    canary: Revision | None
    rollout_uid: str = ""
    routing: TrafficRouting | None = None
    """``spec.strategy.canary.trafficRouting``; None for replica ratio."""
    stable_service: str = ""
    canary_service: str = ""
    header_routes: tuple[SetHeaderRoute, ...] = ()
    """Exactly the header routes (to the canary) the router keeps; others of ours go."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """The Deployment's ``matchLabels``: a Service the controller creates selects these."""
    template: Mapping[str, Any] | None = None
    """The pod template: a Service the controller creates exposes its container ports."""

    @property
    def routed_canary(self) -> Revision:
        """The revision the canary Service selects: the canary, else the stable."""
        return self.canary or self.stable


class Router(Protocol):
    """Sets and verifies the canary's share of traffic. Implementations are idempotent."""

    name: str

    def check(self, target: RouteTarget) -> None:
        """Raise :class:`RouteError` when the objects ``target`` routes through are not
        usable; change nothing."""

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        """Route ``weight`` percent to the canary, the rest to the stable, and keep
        exactly ``target.header_routes``; what had to change, in words."""

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        """Whether the objects, read back, serve ``weight`` percent to the canary now."""

    def remove_managed_routes(self, target: RouteTarget) -> None:
        """Everything to the stable; undo what this router created (the Rollout is being
        deleted). Objects already gone are fine."""
