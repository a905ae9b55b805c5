"""A reconcile's inputs, and the decision being built from them, as values.

:class:`Inputs` is everything one decision may look at. :class:`Draft` is the
decision in progress: the new status, the actions, Events, log notes and
wake-up times gathered so far. It is frozen; every change returns a new draft,
so a function's effect is exactly what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from controller.api.reasons import ConditionReason, EventReason, EventType, HoldReason
from controller.api.v1alpha1 import (
    ConditionType,
    HistoryAction,
    HistoryEntry,
    Phase,
    Rollout,
    RolloutStatus,
)
from controller.core import status as st
from controller.core.actions import Action, Decision, Event
from controller.core.measurements import Measurements
from controller.core.revisions import Revision
from controller.core.traffic import TrafficPlan
from controller.core.world import World

CONTROLLER = "controller"
"""Who acted, in the history, when nobody asked."""


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What one decision is about: the Rollout, the observed world, the time."""

    rollout: Rollout
    world: World
    now: datetime
    measurements: Measurements | None
    """Metric looks the I/O layer took for this reconcile, if any were due."""
    plan: TrafficPlan
    replicas: int
    """Pods the Rollout runs (0 while its Deployment is missing)."""
    looking: bool = False
    """A look of the analysis is in flight; its end wakes the Rollout."""


@dataclass(frozen=True, kw_only=True)
class Draft:
    """The decision so far. Frozen: each method returns a new draft."""

    now: datetime
    status: RolloutStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    notes: tuple[str, ...] = ()
    wakes: tuple[datetime, ...] = ()

    @classmethod
    def start(cls, rollout: Rollout, now: datetime) -> Draft:
        status = rollout.status.model_copy(update={"observed_generation": rollout.generation})
        return cls(now=now, status=status)

    def with_status(self, **fields: object) -> Draft:
        return replace(self, status=self.status.model_copy(update=fields))

    def act(self, *actions: Action) -> Draft:
        return replace(self, actions=(*self.actions, *actions))

    def emit(self, type_: EventType, reason: EventReason | HistoryAction, message: str) -> Draft:
        event = Event(type=type_, reason=reason, message=message)
        return replace(self, events=(*self.events, event))

    def note(self, text: str) -> Draft:
        return replace(self, notes=(*self.notes, text))

    def wake(self, at: datetime | None) -> Draft:
        """Look again at ``at`` (None: no wake-up)."""
        return self if at is None else replace(self, wakes=(*self.wakes, at))

    def record(self, action: HistoryAction, revision: str, *, by: str, reason: str) -> Draft:
        """A history entry, and its Event (a warning for aborts and rollbacks)."""
        entry = HistoryEntry(
            time=self.now,
            action=action,
            revision=revision,
            previous_revision=self.status.stable_revision,
            by=by,
            reason=reason,
        )
        bad = action in (
            HistoryAction.ABORTED,
            HistoryAction.ROLLED_BACK,
            HistoryAction.FLAGS_DISABLED,
            HistoryAction.FLAGS_OFF_BY_HAND,
        )
        draft = self.with_status(history=st.append_history(self.status.history, entry))
        return draft.emit(EventType.WARNING if bad else EventType.NORMAL, action, reason)

    def conditions(
        self,
        *,
        progressing: st.ConditionState,
        paused: st.ConditionState,
        completed: st.ConditionState,
        aborted: st.ConditionState,
    ) -> Draft:
        wanted = {
            ConditionType.PROGRESSING: progressing,
            ConditionType.PAUSED: paused,
            ConditionType.COMPLETED: completed,
            ConditionType.ABORTED: aborted,
        }
        return self.with_status(
            conditions=st.set_conditions(self.status.conditions, wanted, now=self.now)
        )

    def holding(self, reason: HoldReason, message: str) -> Draft:
        """A release in progress, held for ``reason``: Paused or Progressing."""
        phase = Phase.PAUSED if reason.pauses else Phase.PROGRESSING
        draft = self.with_status(phase=phase, message=message)
        return draft.conditions(
            progressing=(True, reason, message),
            paused=(reason.pauses, reason if reason.pauses else ConditionReason.NOT_PAUSED, ""),
            completed=(False, ConditionReason.RELEASE_IN_PROGRESS, ""),
            aborted=(False, ConditionReason.NOT_ABORTED, ""),
        )

    def decision(self) -> Decision:
        waits = [max(0.0, (at - self.now).total_seconds()) for at in self.wakes]
        return Decision(
            status=self.status,
            actions=self.actions,
            events=self.events,
            requeue_after=min(waits) if waits else None,
            notes=self.notes,
        )


def revision(value: str | None) -> Revision | None:
    """A status field's revision, typed."""
    return Revision(value) if value is not None else None


def required(value: str | None) -> Revision:
    """A status field's revision that must be set at this point of the decision."""
    if value is None:
        raise AssertionError("a revision the decision relies on is missing from the status")
    return Revision(value)
