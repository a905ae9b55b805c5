"""Why the step machine stays at a step: questions that answer with values (pure).

Each function looks at values and returns a :class:`Hold` (stay, with the
reason, the detail for the status message and the time to look again), an
:class:`Abort` (the release must be aborted) or None (the step is done). None
of them changes anything; the step machine folds the answers into the
decision. :func:`step_hold` asks them in the order that decides which wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.api.reasons import AbortCode, HoldReason
from controller.api.v1alpha1 import Step
from controller.api.wire import parse_duration


@dataclass(frozen=True, kw_only=True)
class Hold:
    """Stay at the step for ``reason``."""

    reason: HoldReason
    detail: str = ""
    """What it waits for, in words (goes into the status message)."""
    wake_at: datetime | None = None
    """When time alone may end the hold (a pause ends, a deadline passes)."""


@dataclass(frozen=True, kw_only=True)
class Abort:
    """Abort the release: ``code`` and the evidence in words."""

    code: AbortCode
    reason: str


Answer = Hold | Abort | None
"""Stay, abort, or go on."""


def pause_end(step: Step, started: datetime) -> datetime:
    """When the timed pause ``step`` that began at ``started`` ends."""
    if step.pause is None or step.pause.duration is None:
        raise ValueError("not a timed pause")
    return started + parse_duration(step.pause.duration)


def pause_hold(step: Step, *, started: datetime, now: datetime) -> Hold | None:
    """A ``pause`` step: until a user promotes, or until its duration is over."""
    if step.pause is None:
        return None
    if step.pause.duration is None:
        return Hold(reason=HoldReason.WAITING_FOR_PROMOTE)
    ends = pause_end(step, started)
    return Hold(reason=HoldReason.TIMED_PAUSE, wake_at=ends) if now < ends else None


def scaling_hold(
    *,
    available: int,
    want: int,
    last_progress: datetime,
    deadline_seconds: int,
    replica_set: str,
    now: datetime,
) -> Hold | Abort:
    """The canary's pods are not all available: wait, unless progress stalled too long."""
    deadline = last_progress + timedelta(seconds=deadline_seconds)
    if now >= deadline:
        return Abort(
            code=AbortCode.PROGRESS_DEADLINE_EXCEEDED,
            reason=f"canary ReplicaSet {replica_set} had {available}/{want} pods available "
            f"with no progress for {deadline_seconds}s",
        )
    return Hold(
        reason=HoldReason.CANARY_SCALING,
        detail=f"{available}/{want} available",
        wake_at=deadline,
    )


def step_hold(
    *,
    paused: bool,
    analysis: Hold | None,
    scaling: Hold | Abort | None,
    step: Answer,
) -> Answer:
    """What holds the machine, first match wins: a user's pause, an inconclusive
    analysis, canary pods still coming up, then the step's own condition (a pause,
    an ``analysis`` step, or at the end the promotion gate)."""
    if paused:
        return Hold(reason=HoldReason.PAUSED_BY_USER)
    if analysis is not None:
        return analysis
    if scaling is not None:
        return scaling
    return step
