"""The vocabulary of a Rollout's status and Events: one enum per kind of reason.

Each member's value is the wire string (a condition's ``reason``, an Event's
``reason``, the code in front of an abort's message), so the core, the status
writer, the CLI and the Events share one spelling, and a typo is a type error.
"""

from __future__ import annotations

from enum import StrEnum


class HoldReason(StrEnum):
    """Why a release stays where it is (the ``Progressing`` / ``Paused`` reasons)."""

    PAUSED_BY_USER = "PausedByUser"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    """Metrics cannot be judged: the release never promotes until a user does."""
    ANALYSIS_RUNNING = "AnalysisRunning"
    """An ``analysis`` step waits for its metrics."""
    CANARY_SCALING = "CanaryScaling"
    """The canary's pods for the step's traffic are not all available yet."""
    WAITING_FOR_PROMOTE = "WaitingForPromote"
    TIMED_PAUSE = "TimedPause"
    GUARD_RUNNING = "GuardRunning"
    """Promoted; the post-promotion guard still judges the new stable."""
    ROLLING_BACK = "RollingBack"

    @property
    def pauses(self) -> bool:
        """Whether the Rollout reads ``Paused`` (someone or something must act) while held."""
        return self in _PAUSING


_PAUSING = frozenset(
    {
        HoldReason.PAUSED_BY_USER,
        HoldReason.ANALYSIS_INCONCLUSIVE,
        HoldReason.WAITING_FOR_PROMOTE,
        HoldReason.TIMED_PAUSE,
    }
)


class AbortCode(StrEnum):
    """Why a release was aborted or rolled back (the prefix of the history's reason)."""

    ABORTED_BY_USER = "AbortedByUser"
    ANALYSIS_FAILED = "AnalysisFailed"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    GUARD_FAILED = "GuardFailed"


class ConditionReason(StrEnum):
    """Condition reasons that are neither holds nor history actions."""

    NOT_PAUSED = "NotPaused"
    NOT_ABORTED = "NotAborted"
    RELEASE_IN_PROGRESS = "ReleaseInProgress"
    STABLE_SCALING = "StableScaling"
    STABLE_AVAILABLE = "StableAvailable"
    COMPLETED = "Completed"
    WORKLOAD_NOT_FOUND = "WorkloadNotFound"
    ABORTED = "Aborted"
    """An aborted revision is held back, with no history entry left to name why."""
    FLAGS_PENDING = "FlagsPending"
    """A feature flag is not yet confirmed in the state the controller wants."""
    FLAGS_CONFIRMED = "FlagsConfirmed"
    """Every feature flag is in the state the controller wants (or none is wanted yet)."""
    TRAFFIC_ROUTING_FAILED = "TrafficRoutingFailed"
    """The route objects trafficRouting names are not usable: nothing is changed."""


class EventReason(StrEnum):
    """Event reasons besides the history actions (which are Events of their own)."""

    PROMOTED = "Promoted"
    STEP_SKIPPED = "StepSkipped"
    STEP_STARTED = "StepStarted"
    REQUEST_IGNORED = "RequestIgnored"
    ROLLBACK_IMPOSSIBLE = "RollbackImpossible"
    GUARD_PASSED = "GuardPassed"
    FLAG_SWITCHED_OFF = "FlagSwitchedOff"
    FLAG_RESTORED = "FlagRestored"
    FLAGS_PENDING = "FlagsPending"
    """A flag provider did not confirm a switch (a Warning; retried with backoff)."""
    FLAG_DROPPED = "FlagDropped"
    """A flag the controller had switched was removed from the spec: left as it is."""
    UNKNOWN_FLAGS = "UnknownFlags"
    """A ``flags-off`` / ``flags-restore`` request named flags the Rollout does not declare."""
    TRAFFIC_ROUTING_FAILED = "TrafficRoutingFailed"
    """The route objects trafficRouting names are missing or unusable (a Warning)."""
    METRIC_UNMEASURABLE = "MetricUnmeasurable"
    """A metric cannot be measured (an address or a rule the admin has not allowed, an
    unreadable Secret, a query that does not render): the release holds (a Warning)."""
    TRAFFIC_REPAIRED = "TrafficRepaired"
    """Someone edited the weights (or header routes) the controller set: put back (a Warning)."""


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


__all__ = ["AbortCode", "ConditionReason", "EventReason", "EventType", "HoldReason"]
