"""When a status write may wait: pods becoming ready one by one are not each a write.

A status whose only change from the stored one is progress — ready-pod counts,
the message that quotes them, the progress clock, conditions' messages — is
written at most once per :data:`PROGRESS_WRITE_INTERVAL`; any other change (a
phase, a step, a weight, a condition's status or reason, a revision, history) is
written at once. So a step that scales ten pods writes its status when it starts
and when the pods serve, plus at most one update every two seconds in between,
instead of one per pod.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.api.v1alpha1 import RolloutStatus

PROGRESS_WRITE_INTERVAL = timedelta(seconds=2)
"""A progress-only status change waits at most this long after the last status write."""

_PROGRESS_FIELDS = frozenset(
    {"stable_ready_replicas", "canary_ready_replicas", "message", "last_progress_at"}
)


def progress_only(stored: RolloutStatus, wanted: RolloutStatus) -> bool:
    """Whether ``wanted`` differs from ``stored`` in progress alone (or not at all)."""
    return _without_progress(stored) == _without_progress(wanted)


def status_write_due(
    stored: RolloutStatus,
    wanted: RolloutStatus,
    *,
    last_written: datetime | None,
    now: datetime,
) -> datetime:
    """When ``wanted`` should be written over ``stored``: ``now`` unless the change
    is progress alone and a status was written less than the interval ago."""
    if last_written is None or not progress_only(stored, wanted):
        return now
    return max(now, last_written + PROGRESS_WRITE_INTERVAL)


def _without_progress(status: RolloutStatus) -> RolloutStatus:
    conditions = [c.model_copy(update={"message": ""}) for c in status.conditions]
    blank = {name: RolloutStatus.model_fields[name].default for name in _PROGRESS_FIELDS}
    return status.model_copy(update={**blank, "conditions": conditions})
