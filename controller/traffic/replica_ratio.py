"""Replica-ratio traffic: no router; traffic follows the pods a Service selects."""

from __future__ import annotations

from controller.traffic import RouteTarget


class ReplicaRatioRouter:
    """Traffic share equals the canary's share of Ready pods behind the one Service.

    The core sets those counts (``ceil(weight * replicas / 100)`` canary pods beside
    a full stable), so there is no routing object to change and nothing to verify
    beyond the pods being Ready, which the core already waits for.
    """

    name = "replica-ratio"

    def set_weight(self, target: RouteTarget, weight: int) -> None:
        del target, weight

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        del target, weight
        return True

    def remove_managed_routes(self, target: RouteTarget) -> None:
        del target
