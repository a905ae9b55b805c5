"""Traffic routers: how a canary weight becomes real traffic.

A router implements :class:`Router`. Without a mesh or gateway, the
:class:`~controller.traffic.replica_ratio.ReplicaRatioRouter` is used: one Service
selects stable and canary pods, so traffic follows the Ready pod counts the core
already sets, and there is nothing to route. Gateway API, Istio, NGINX and SMI
routers plug in behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controller.core.revisions import Revision


@dataclass(frozen=True, kw_only=True)
class RouteTarget:
    """Which Rollout's traffic to shape, and between which revisions."""

    namespace: str
    rollout: str
    stable: Revision
    canary: Revision | None


class Router(Protocol):
    """Sets and verifies the canary's share of traffic. Implementations are idempotent."""

    name: str

    def set_weight(self, target: RouteTarget, weight: int) -> None:
        """Route ``weight`` percent to the canary, the rest to the stable."""

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        """Whether the data plane serves ``weight`` percent to the canary now."""

    def remove_managed_routes(self, target: RouteTarget) -> None:
        """Undo everything this router changed (the Rollout is being deleted)."""
