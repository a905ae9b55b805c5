"""When a status write may wait: pods becoming ready one by one, and analysis looks
that change no verdict, are not each a write.

A status whose only change from the stored one is progress — ready-pod counts,
the message that quotes them, the progress clock, conditions' messages — is
written at most once per :data:`PROGRESS_WRITE_INTERVAL`. One whose only change
is the evidence of analysis looks — counts, likelihood ratios, the time of the
look — is written at most once per :data:`LOOK_WRITE_INTERVAL`. Any other change
(a phase, a step, a weight, a verdict, a condition's status or reason, a new
error, a metric's first look or first canary requests, a revision, history) is
written at once.

A status put off is not lost while the process runs: the reconciler decides from
its analysis as if written (:class:`controller.reconcile.reconciler.Reconciler`),
so the next look counts from it; ready counts are read from the world again
anyway. A restart loses at most the looks of one interval, and loses no
requests: a comparison's counts are cumulative since the analysis started, so
the next look counts what the lost ones had counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.api.analysis import MetricStatus
from controller.api.v1alpha1 import RolloutStatus

PROGRESS_WRITE_INTERVAL = timedelta(seconds=2)
"""A progress-only status change waits at most this long after the last status write."""

LOOK_WRITE_INTERVAL = timedelta(seconds=30)
"""A change of analysis evidence alone waits at most this long after the last status
write: with looks every 10 s (the default interval), one write in three looks."""

_PROGRESS_FIELDS = frozenset(
    {"stable_ready_replicas", "canary_ready_replicas", "message", "last_progress_at"}
)

_LOOK_FIELDS = frozenset(
    {
        "measured_at",
        "canary_requests",
        "canary_bad",
        "stable_requests",
        "stable_bad",
        "evidence",
        "more_canary_requests_needed",
        "log_lr",
        "pass_log_lr",
        "value",
        "measurements",
        "successful",
        "errors",
        "consecutive_errors",
    }
)
"""A metric's evidence: what a look that changes no verdict changes. Not among them:
the verdict, its reason, failed or inconclusive measurements, a new error's text."""


def progress_only(stored: RolloutStatus, wanted: RolloutStatus) -> bool:
    """Whether ``wanted`` differs from ``stored`` in progress alone (or not at all)."""
    return _without_progress(stored) == _without_progress(wanted)


def looks_only(stored: RolloutStatus, wanted: RolloutStatus) -> bool:
    """Whether ``wanted`` differs from ``stored`` in analysis evidence alone (or not at
    all), and no metric's evidence begins: a metric's first look, and its first canary
    requests counted, are written at once (people watch for the judging to start)."""
    return _without_looks(stored) == _without_looks(wanted) and not _evidence_begins(stored, wanted)


def status_write_due(
    stored: RolloutStatus,
    wanted: RolloutStatus,
    *,
    last_written: datetime | None,
    now: datetime,
) -> datetime:
    """When ``wanted`` should be written over ``stored``: ``now`` unless the change is
    progress or evidence alone and a status was written less than its interval ago."""
    if last_written is None:
        return now
    if progress_only(stored, wanted):
        return max(now, last_written + PROGRESS_WRITE_INTERVAL)
    if looks_only(stored, wanted):
        return max(now, last_written + LOOK_WRITE_INTERVAL)
    if _evidence_begins(stored, wanted):
        return now
    if _without_looks(_without_progress(stored)) == _without_looks(_without_progress(wanted)):
        return max(now, last_written + PROGRESS_WRITE_INTERVAL)  # both: the sooner
    return now


def _evidence_begins(stored: RolloutStatus, wanted: RolloutStatus) -> bool:
    before = {m.name: m for m in (stored.analysis.metrics if stored.analysis else [])}
    for metric in wanted.analysis.metrics if wanted.analysis else []:
        old = before.get(metric.name)
        if metric.measured_at is not None and (old is None or old.measured_at is None):
            return True
        if metric.canary_requests > 0 and (old is None or old.canary_requests == 0):
            return True
    return False


def _without_progress(status: RolloutStatus) -> RolloutStatus:
    conditions = [c.model_copy(update={"message": ""}) for c in status.conditions]
    blank = {name: RolloutStatus.model_fields[name].default for name in _PROGRESS_FIELDS}
    return status.model_copy(update={**blank, "conditions": conditions})


def _without_looks(status: RolloutStatus) -> RolloutStatus:
    analysis = status.analysis
    if analysis is None:
        return status
    fields = MetricStatus.model_fields
    blank = {name: fields[name].get_default(call_default_factory=True) for name in _LOOK_FIELDS}
    metrics = [m.model_copy(update=blank) for m in analysis.metrics]
    bare = analysis.model_copy(update={"last_measured_at": None, "metrics": metrics})
    return status.model_copy(update={"analysis": bare})
