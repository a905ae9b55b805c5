"""A reconcile's working state and the phases every path shares.

:class:`Context` accumulates the new status, actions, events and wake-up times
of one reconcile; ``steady`` (no canary), ``blocked`` (aborted revision held
back) and ``abort`` are the shared end states.
"""

from __future__ import annotations

from datetime import datetime

from controller.api.v1alpha1 import (
    ConditionType,
    HistoryAction,
    HistoryEntry,
    Phase,
    Rollout,
)
from controller.core import status as st
from controller.core.actions import (
    Action,
    Decision,
    DeleteReplicaSet,
    EnsureReplicaSet,
    Event,
    SetCanaryWeight,
    UpdateDeployment,
)
from controller.core.analysis import Measurements
from controller.core.revisions import Revision
from controller.core.world import (
    DeploymentView,
    World,
)

CONTROLLER = "controller"


class Context:
    """One reconcile's inputs and accumulated outputs."""

    def __init__(
        self,
        rollout: Rollout,
        world: World,
        now: datetime,
        measurements: Measurements | None = None,
    ) -> None:
        self.rollout = rollout
        self.world = world
        self.now = now
        self.measurements = measurements
        self.analysis_hold = ""
        """Why metric analysis holds the release (inconclusive: it never promotes)."""
        self.analysis_waiting = ""
        """What an analysis step still waits for."""
        self.analysis_failure = ""
        """Why an analysis gate failed."""
        self.promoted_by: str | None = None
        """Who promoted by request in this reconcile (overrides an inconclusive analysis)."""
        self.guarding = ""
        """What the post-promotion guard is doing (empty: no guard runs)."""
        self.status = rollout.status.model_copy(update={"observed_generation": rollout.generation})
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.notes: list[str] = []
        self.requeue: list[float] = []

    # ------------------------------------------------------------ helpers

    def update(self, **fields: object) -> None:
        self.status = self.status.model_copy(update=fields)

    def record(self, action: HistoryAction, revision: str, *, by: str, reason: str) -> None:
        entry = HistoryEntry(
            time=self.now,
            action=action,
            revision=revision,
            previous_revision=self.status.stable_revision,
            by=by,
            reason=reason,
        )
        self.update(history=st.append_history(self.status.history, entry))
        bad = action in (HistoryAction.ABORTED, HistoryAction.ROLLED_BACK)
        kind = "Warning" if bad else "Normal"
        self.events.append(Event(type=kind, reason=action.value, message=reason))

    def conditions(
        self,
        *,
        progressing: st.ConditionState,
        paused: st.ConditionState,
        completed: st.ConditionState,
        aborted: st.ConditionState,
    ) -> None:
        wanted = {
            ConditionType.PROGRESSING: progressing,
            ConditionType.PAUSED: paused,
            ConditionType.COMPLETED: completed,
            ConditionType.ABORTED: aborted,
        }
        self.update(conditions=st.set_conditions(self.status.conditions, wanted, now=self.now))

    def wake_at(self, when: datetime) -> None:
        self.requeue.append(max(0.0, (when - self.now).total_seconds()))

    def ensure_rs(self, revision: Revision, replicas: int, *, create: bool) -> None:
        existing = self.world.replica_set(revision)
        if existing is not None and existing.replicas == replicas:
            return
        if existing is None and not create:
            return
        template = self.world.deployment.template if create and self.world.deployment else None
        self.actions.append(
            EnsureReplicaSet(revision=revision, template=template, replicas=replicas)
        )

    def scale_down_others(self, keep: set[Revision]) -> None:
        """Traffic off, then every other ReplicaSet to zero (kept for rollback)."""
        others = [rs for rs in self.world.replica_sets if rs.revision not in keep and rs.replicas]
        if not others:
            return
        stable = self.status.stable_revision
        kept = self.world.replica_set(_rev(stable))
        if kept is None or not kept.available_at(self.status.replicas):
            # Make before break: while the stable does not serve in full (e.g. the
            # record of a promotion was lost and the template went back), the
            # others keep serving; the stable's pods becoming Ready requeue us.
            self.notes.append(f"held scale-down until stable {stable} serves in full")
            return
        if stable is not None:
            self.actions.append(SetCanaryWeight(weight=0, canary=None, stable=Revision(stable)))
        for rs in others:
            self.actions.append(EnsureReplicaSet(revision=rs.revision, template=None, replicas=0))

    def prune_history(self, keep: set[Revision]) -> None:
        limit = self.rollout.spec.revision_history_limit
        old = sorted(
            (rs for rs in self.world.replica_sets if rs.revision not in keep and not rs.replicas),
            key=lambda rs: (rs.created_at or self.now, rs.name),
        )
        for rs in old[: max(0, len(old) - limit)]:
            if not rs.being_deleted:
                self.actions.append(DeleteReplicaSet(name=rs.name))

    def manage_deployment(self, deployment: DeploymentView, replicas: int) -> None:
        """Keep the Deployment paused; scale it to zero once the stable serves in full."""
        stable = self.world.replica_set(_rev(self.status.stable_revision))
        stable_ready = stable is not None and stable.available_at(replicas)
        want_replicas = 0 if stable_ready else deployment.replicas
        recorded = deployment.recorded_desired_replicas
        if deployment.paused and deployment.replicas == want_replicas and recorded == replicas:
            return
        self.actions.append(
            UpdateDeployment(replicas=want_replicas, paused=True, desired_replicas=replicas)
        )

    # ------------------------------------------------------------ phases

    def steady(self, replicas: int) -> None:
        """No canary wanted: the stable runs in full, everything else at zero."""
        stable = _rev(self.status.stable_revision)
        assert stable is not None
        if self.status.canary_revision is not None:
            self.record(
                HistoryAction.SUPERSEDED,
                self.status.canary_revision,
                by=CONTROLLER,
                reason="The Deployment's template went back to the stable revision",
            )
        self.ensure_rs(stable, replicas, create=True)
        self.scale_down_others(keep={stable})
        self.update(current_step_index=None, canary_revision=None, canary_weight=0)
        rs = self.world.replica_set(stable)
        ready = rs is not None and rs.available_at(replicas)
        if ready:
            self.update(phase=Phase.HEALTHY, message=f"Revision {stable} serves all traffic")
        else:
            have = rs.available_replicas if rs else 0
            self.update(
                phase=Phase.PROGRESSING,
                message=f"Waiting for stable {stable}: {have}/{replicas} pods available",
            )
        self.conditions(
            progressing=(not ready, "StableScaling" if not ready else "StableAvailable", ""),
            paused=(False, "NotPaused", ""),
            completed=(ready, "Completed" if ready else "StableScaling", self.status.message),
            aborted=(False, "NotAborted", ""),
        )

    def blocked(self, replicas: int, revision: Revision) -> None:
        """The Deployment's template was aborted or rolled back: hold the stable."""
        stable = _rev(self.status.stable_revision)
        assert stable is not None
        self.ensure_rs(stable, replicas, create=False)
        self.scale_down_others(keep={stable})
        self.update(current_step_index=None, canary_revision=None, canary_weight=0)
        last = next(
            (
                h
                for h in reversed(self.status.history)
                if h.action in (HistoryAction.ABORTED, HistoryAction.ROLLED_BACK)
            ),
            None,
        )
        why = f"{last.action.value} by {last.by}: {last.reason}" if last else "Aborted"
        message = (
            f"{why}. Revision {revision} is not released again until the Deployment's "
            f"template changes or `landinggear retry`"
        )
        self.update(phase=Phase.DEGRADED, message=message)
        reason = last.action.value if last else "Aborted"
        self.conditions(
            progressing=(False, reason, ""),
            paused=(False, "NotPaused", ""),
            completed=(False, reason, ""),
            aborted=(True, reason, message),
        )

    def abort(self, revision: Revision, *, by: str, reason: str, code: str) -> None:
        # The caller then runs `blocked`, whose scale_down_others routes all traffic
        # to the stable *before* it scales the canary down.
        self.update(blocked_revision=revision)
        self.record(HistoryAction.ABORTED, revision, by=by, reason=f"{code}: {reason}")

    def progress_state(self, phase: Phase, message: str, reason: str) -> None:
        self.update(phase=phase, message=message)
        self.conditions(
            progressing=(True, reason, message),
            paused=(phase is Phase.PAUSED, reason if phase is Phase.PAUSED else "NotPaused", ""),
            completed=(False, "ReleaseInProgress", ""),
            aborted=(False, "NotAborted", ""),
        )

    def observe_counts(self) -> None:
        stable = self.world.replica_set(_rev(self.status.stable_revision))
        canary = self.world.replica_set(_rev(self.status.canary_revision))
        self.update(
            stable_ready_replicas=stable.ready_replicas if stable else 0,
            canary_ready_replicas=canary.available_replicas if canary else 0,
        )

    def decision(self) -> Decision:
        return Decision(
            status=self.status,
            actions=tuple(self.actions),
            events=tuple(self.events),
            requeue_after=min(self.requeue) if self.requeue else None,
            notes=tuple(self.notes),
        )


def _rev(value: str | None) -> Revision | None:
    return Revision(value) if value is not None else None


def _revs(value: str | None) -> tuple[Revision, ...]:
    return (Revision(value),) if value is not None else ()


def _must(value: str | None) -> Revision:
    assert value is not None
    return Revision(value)
