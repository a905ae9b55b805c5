"""What the cluster did with each revision's pods, as the soak's data plane saw it.

The data plane lists the ReplicaSets every 0.2 s; :class:`ReplicaTimeline` keeps,
per revision, the points where its wanted replicas (``spec.replicas``, written by
the controller) or its Ready pods (``status.readyReplicas``, the controller
manager's and kwok's doing) changed. The judge uses it to tell how long after a
stored abort the *controller* took the canary out and how long the *cluster*
then took to remove its pods — traffic follows the Ready pods.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from controller.core.revisions import REVISION_LABEL, ROLLOUT_LABEL

__all__ = ["Point", "ReplicaTimeline", "counts"]

Point = tuple[float, int, int]
"""(time, wanted replicas, Ready replicas) from that time on."""


def counts(replicasets: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Wanted and Ready replicas per revision, summed over its ReplicaSets."""
    found: dict[str, tuple[int, int]] = {}
    for rs in replicasets:
        labels = (rs.get("metadata") or {}).get("labels") or {}
        revision = labels.get(REVISION_LABEL)
        if not labels.get(ROLLOUT_LABEL) or not revision:
            continue
        spec, status = rs.get("spec") or {}, rs.get("status") or {}
        wanted, ready = found.get(revision, (0, 0))
        found[revision] = (
            wanted + int(spec.get("replicas") or 0),
            ready + int(status.get("readyReplicas") or 0),
        )
    return found


class ReplicaTimeline:
    """Change points of each revision's counts; a revision no longer listed is (0, 0)."""

    def __init__(self) -> None:
        self._points: dict[str, list[Point]] = {}
        self._last: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def observe(self, at: float, replicasets: Sequence[Mapping[str, Any]]) -> None:
        now = counts(replicasets)
        with self._lock:
            for revision in sorted(now.keys() | self._last.keys()):
                value = now.get(revision, (0, 0))
                if self._last.get(revision) != value:
                    self._points.setdefault(revision, []).append((at, *value))
                    self._last[revision] = value

    def points(self) -> dict[str, list[Point]]:
        with self._lock:
            return {revision: list(points) for revision, points in self._points.items()}
