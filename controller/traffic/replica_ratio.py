"""Replica-ratio traffic: no router; traffic follows the pods a Service selects."""

from __future__ import annotations

from collections.abc import Sequence

from controller.core.traffic import REPLICA_RATIO
from controller.traffic import RouteTarget


class ReplicaRatioRouter:
    """Traffic share equals the canary's share of Ready pods behind the one Service.

    The core's :class:`~controller.core.traffic.ReplicaRatioPlan` sets those counts
    (``ceil(weight * replicas / 100)`` canary pods beside a full stable) and waits
    for the pods, so there is no routing object to change and nothing more to verify.
    """

    name = REPLICA_RATIO

    def check(self, target: RouteTarget) -> None:
        del target

    def set_weight(self, target: RouteTarget, weight: int) -> Sequence[str]:
        del target, weight
        return ()

    def verify_weight(self, target: RouteTarget, weight: int) -> bool:
        del target, weight
        return True

    def remove_managed_routes(self, target: RouteTarget) -> None:
        del target
