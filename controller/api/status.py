"""The Rollout's status: what the controller observed and did.

Everything a restarted controller needs lives here (step index, pause start,
revisions, handled requests), with the conditions and the history people read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from controller.api.analysis import AnalysisStatus
from controller.api.base import Model
from controller.api.flags import MAX_FLAGS, FlagStatus
from controller.api.routing import SetHeaderRoute
from controller.api.wire import MAX_REQUEST_ID, step_progress

__all__ = [
    "HISTORY_LIMIT",
    "MAX_REQUEST_ID",
    "Condition",
    "ConditionType",
    "HistoryAction",
    "HistoryEntry",
    "Phase",
    "RolloutStatus",
    "step_progress",
]

HISTORY_LIMIT = 20
"""Status history keeps at most this many entries, newest last."""


class Phase(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    DEGRADED = "Degraded"


class ConditionType(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    ABORTED = "Aborted"
    FLAGS_PENDING = "FlagsPending"
    """True while a feature flag is not yet confirmed in the state the controller wants."""


class Condition(Model):
    """A Kubernetes-style condition (``kubectl wait --for=condition=…``)."""

    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = ""
    last_transition_time: datetime


class HistoryAction(StrEnum):
    ADOPTED = "Adopted"
    RELEASE_STARTED = "ReleaseStarted"
    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    RETRIED = "Retried"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"
    FLAGS_DISABLED = "FlagsDisabled"
    """onAnomaly DisableFlags: the analysis failed, the flags were switched off and the
    canary is judged again from zero."""
    FLAGS_OFF_BY_HAND = "FlagsOffByHand"
    """A person's ``landinggear flags off``: flags switched off, the release untouched."""
    FLAGS_RESTORED_BY_HAND = "FlagsRestoredByHand"
    """A person's ``landinggear flags restore``: flags that were off put back."""


class HistoryEntry(Model):
    """Who did what to which revision, when and why."""

    time: datetime
    action: HistoryAction
    revision: str = Field(description="The revision acted on (pod-template hash).")
    previous_revision: str | None = Field(default=None, description="Stable before the action.")
    by: str = Field(description="The user for requested actions, else 'controller'.")
    reason: str = ""


class RolloutStatus(Model):
    """What the controller observed and did. Everything a restart needs lives here."""

    phase: Phase = Phase.PROGRESSING
    message: str = ""
    observed_generation: int = 0
    current_step_index: int | None = Field(
        default=None, description="Index of the current step; None when no canary runs."
    )
    step_progress: str | None = Field(
        default=None,
        description="The current step of all, counted from 1 (2/4): the STEP column of "
        "kubectl get; None when no canary runs.",
    )
    canary_weight: int = Field(default=0, description="Percent of traffic on the canary.")
    header_routes: list[SetHeaderRoute] = Field(
        default_factory=list,
        max_length=64,
        description="Header routes to the canary the router serves (setHeaderRoute steps).",
    )
    stable_revision: str | None = Field(default=None, description="Pod-template hash of stable.")
    canary_revision: str | None = Field(default=None, description="Pod-template hash of canary.")
    previous_stable_revision: str | None = Field(
        default=None, description="Stable before the last promotion; target of rollback."
    )
    blocked_revision: str | None = Field(
        default=None,
        description="Aborted or rolled-back revision, not released again until the template "
        "changes or the user retries.",
    )
    step_started_at: datetime | None = Field(default=None, description="When the step began.")
    step_unjudged_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Seconds of the current step in which the metrics could not be measured; "
        "its pause or maxDuration runs that much longer.",
    )
    last_progress_at: datetime | None = Field(
        default=None, description="When the canary last made progress (progress deadline)."
    )
    rolling_back_to: str | None = Field(
        default=None, description="Revision a requested rollback is restoring."
    )
    replicas: int = Field(default=0, description="Desired pods.")
    stable_ready_replicas: int = 0
    canary_ready_replicas: int = 0
    handled_requests: dict[str, str] = Field(
        default_factory=dict, description="Per verb, the id of the last request acted on."
    )
    analysis: AnalysisStatus | None = Field(
        default=None, description="Metric analysis of the current canary, if configured."
    )
    feature_flags: list[FlagStatus] = Field(
        default_factory=list,
        max_length=MAX_FLAGS,
        description="Per feature flag the controller switched: wanted and confirmed state, "
        "the previous state, the last error.",
    )
    conditions: list[Condition] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list, max_length=HISTORY_LIMIT)
