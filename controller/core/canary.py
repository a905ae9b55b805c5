"""The canary step machine: setWeight and pause steps, promotion, progress deadline.

Replica-ratio traffic: one Service selects stable and canary pods; the canary
runs ``ceil(weight * replicas / 100)`` pods beside a stable kept at full size,
so the stable never has fewer Ready pods than desired.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from controller.api.base import parse_duration
from controller.api.v1alpha1 import (
    ConditionType,
    HistoryAction,
    Phase,
    Step,
)
from controller.core import analysis, gates
from controller.core.actions import (
    Event,
    SetCanaryWeight,
)
from controller.core.context import CONTROLLER, Context, _must, _rev, _revs
from controller.core.revisions import Revision
from controller.core.world import (
    DeploymentView,
    ReplicaSetView,
    Request,
    Verb,
)

_MAX_STEPS_PER_RECONCILE = 128


def canary_replicas(weight: int, replicas: int) -> int:
    """Pods for the canary at ``weight`` percent: ``ceil(weight * replicas / 100)``."""
    return math.ceil(weight * replicas / 100)


def step_weight(steps: list[Step], index: int) -> int:
    """Traffic percent in force at step ``index``: the last ``setWeight`` at or before it.

    ``index == len(steps)`` is the final promotion, at 100.
    """
    if index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


class Canary(Context):
    """Runs the steps of the release of one revision."""

    def canary(self, deployment: DeploymentView, replicas: int, pending: list[Request]) -> None:
        spec = self.rollout.spec
        steps = spec.strategy.canary.steps
        revision = deployment.revision
        stable = _rev(self.status.stable_revision)
        assert stable is not None
        if self.status.canary_revision != revision:
            if self.status.canary_revision is not None:
                self.record(
                    HistoryAction.SUPERSEDED,
                    self.status.canary_revision,
                    by=CONTROLLER,
                    reason=f"A newer template ({revision}) replaced it mid-release",
                )
            self.update(
                canary_revision=revision,
                analysis=None,  # a new release is judged afresh, never on an old verdict
                current_step_index=0,
                canary_weight=0,
                step_started_at=self.now,
                last_progress_at=self.now,
                canary_ready_replicas=0,
                blocked_revision=None,
            )
            self.record(
                HistoryAction.RELEASE_STARTED,
                revision,
                by=CONTROLLER,
                reason=f"Deployment {deployment.name} template changed",
            )
        for request in pending:
            if request.verb in (Verb.ABORT, Verb.ROLLBACK):
                why = request.reason or f"{request.verb.value} requested"
                self.abort(revision, by=request.by, reason=why, code="AbortedByUser")
                self.blocked(replicas, revision)
                return
        for request in pending:
            if request.verb is Verb.PROMOTE:
                self.promoted_by = request.by
                index = self.status.current_step_index or 0
                target = len(steps) if request.full else min(index + 1, len(steps))
                self.update(
                    current_step_index=target, step_started_at=self.now, last_progress_at=self.now
                )
                self.events.append(
                    Event(
                        type="Normal",
                        reason="Promoted" if request.full else "StepSkipped",
                        message=f"{request.by} promoted{' fully' if request.full else ''} "
                        f"from step {index}",
                    )
                )
        if not self.rollout.spec.paused and self.was_paused_by_user():
            self.update(last_progress_at=self.now)  # the deadline restarts on resume
        if not self.analyse(revision, replicas):
            return
        keep = {stable, revision}
        self.scale_down_others(keep=keep)
        self.ensure_rs(stable, replicas, create=False)
        for _ in range(_MAX_STEPS_PER_RECONCILE):
            if not self.run_step(deployment, replicas, steps, revision):
                break
        self.prune_history(keep={*keep, *_revs(self.status.previous_stable_revision)})

    def was_paused_by_user(self) -> bool:
        return any(
            c.type is ConditionType.PAUSED and c.status == "True" and c.reason == "PausedByUser"
            for c in self.rollout.status.conditions
        )

    def run_step(
        self, deployment: DeploymentView, replicas: int, steps: list[Step], revision: Revision
    ) -> bool:
        """Bring the current step about; True when it completed and the next may run.

        Replicas and weight are set only where the machine *holds*, never for a step
        it passes through: after a lost status write the world can already be ahead
        of the recorded step, and passing through must not scale the canary back.
        """
        index = self.status.current_step_index or 0
        gate = self.analysis_gate(None) if index >= len(steps) else None
        held_by_analysis = bool(self.analysis_hold) or gate in (
            "AnalysisInconclusive",
            "AnalysisRunning",
        )
        promoting = index >= len(steps) and not held_by_analysis
        # Held at the promotion by the analysis, the canary keeps the last step's
        # traffic: an unjudged canary is never scaled up to take over.
        weight = step_weight(steps, index if promoting else min(index, len(steps) - 1))
        want = replicas if promoting else canary_replicas(weight, replicas)
        rs = self.world.replica_set(revision)
        available = rs.available_replicas if rs else 0
        if available > self.status.canary_ready_replicas:
            self.update(last_progress_at=self.now)
        self.update(canary_ready_replicas=available)
        ready = (
            rs is not None
            and rs.status_current
            and rs.replicas >= want
            and rs.available_replicas >= want
        )
        label = f"step {index + 1}/{len(steps)}" if index < len(steps) else "promotion"
        held = self.hold_reason(steps, index, ready=ready, promotion=gate)
        if held is None:
            if index >= len(steps):
                self.promote(revision, replicas)
                return False
            self.advance(steps, index, revision)
            return True
        if held == "AnalysisFailed":
            self.abort(revision, by=CONTROLLER, reason=self.analysis_failure, code="AnalysisFailed")
            self.blocked(replicas, revision)
            return False
        self.ensure_rs(revision, want, create=True)
        if ready and self.status.canary_weight != weight:
            stable = _must(self.status.stable_revision)
            self.actions.append(SetCanaryWeight(weight=weight, canary=revision, stable=stable))
            self.update(canary_weight=weight)
        if held == "PausedByUser":
            self.progress_state(Phase.PAUSED, f"Paused by user at {label}", held)
        elif held == "AnalysisInconclusive":
            message = f"{label}: held, metrics cannot be judged: {self.analysis_hold}"
            self.progress_state(Phase.PAUSED, message, held)
        elif held == "AnalysisRunning":
            message = f"{label}: waiting for the analysis: {self.analysis_waiting}"
            self.progress_state(Phase.PROGRESSING, message, held)
        elif held == "CanaryScaling":
            self.wait_for_canary(
                revision, replicas, rs, available=available, want=want, label=label
            )
        elif held == "WaitingForPromote":
            message = f"{label}: paused at {weight}% until `landinggear promote`"
            self.progress_state(Phase.PAUSED, message, held)
        else:
            ends = self.pause_end(steps[index])
            self.wake_at(ends)
            message = f"{label}: paused at {weight}% until {ends.isoformat()}"
            self.progress_state(Phase.PAUSED, message, held)
        return False

    def analyse(self, revision: Revision, replicas: int) -> bool:
        """Fold in the metric measurements; abort (False) when a metric fails."""
        spec = self.rollout.spec.strategy.canary.analysis
        if spec is None:
            self.update(analysis=None)
            return True
        current = analysis.begin(
            spec, self.status.analysis, revision=revision, stage=analysis.CANARY, now=self.now
        )
        if self.promoted_by is not None and current.overridden_by is None:
            current = current.model_copy(update={"overridden_by": self.promoted_by})
        outcome = analysis.analyse(spec, current, measurements=self.measurements, now=self.now)
        self.update(analysis=outcome.status)
        if outcome.failed:
            self.abort(revision, by=CONTROLLER, reason=outcome.failed, code="AnalysisFailed")
            self.blocked(replicas, revision)
            return False
        self.analysis_hold = outcome.holding
        if outcome.next_look is not None:
            self.wake_at(outcome.next_look)
        return True

    def analysis_gate(self, step: Step | None) -> str | None:
        """Hold reason of an ``analysis`` step (``step``) or the promotion (None)."""
        spec = self.rollout.spec.strategy.canary.analysis
        current = self.status.analysis
        if spec is None or current is None:
            return None
        expired = True
        names = None
        if step is not None:
            assert step.analysis is not None
            names = step.analysis.metrics
            ends = (self.status.step_started_at or self.now) + parse_duration(
                step.analysis.max_duration
            )
            expired = self.now >= ends
            if not expired:
                self.wake_at(ends)
        gate = gates.gate(spec, current, names=names, expired=expired)
        if gate.failed:
            self.analysis_failure = gate.failed
            return "AnalysisFailed"
        if gate.inconclusive:
            self.analysis_hold = gate.inconclusive
            return "AnalysisInconclusive"
        if gate.waiting:
            self.analysis_waiting = gate.waiting
            return "AnalysisRunning"
        return None

    def hold_reason(
        self, steps: list[Step], index: int, *, ready: bool, promotion: str | None
    ) -> str | None:
        """Why the machine stays at step ``index``, or None when it may move on.

        ``promotion``: what the analysis says of the promotion (``analysis_gate``),
        once all steps are done.
        """
        early = (
            (self.rollout.spec.paused, "PausedByUser"),
            (bool(self.analysis_hold), "AnalysisInconclusive"),
            (not ready, "CanaryScaling"),
        )
        for applies, reason in early:
            if applies:
                return reason
        if index >= len(steps):
            return promotion
        if steps[index].analysis is not None:
            return self.analysis_gate(steps[index])
        pause = steps[index].pause
        if pause is None:
            return None
        if pause.duration is None:
            return "WaitingForPromote"
        return "TimedPause" if self.now < self.pause_end(steps[index]) else None

    def pause_end(self, step: Step) -> datetime:
        assert step.pause is not None
        assert step.pause.duration is not None
        started = self.status.step_started_at or self.now
        return started + parse_duration(step.pause.duration)

    def wait_for_canary(
        self,
        revision: Revision,
        replicas: int,
        rs: ReplicaSetView | None,
        *,
        available: int,
        want: int,
        label: str,
    ) -> None:
        spec = self.rollout.spec
        deadline = (self.status.last_progress_at or self.now) + timedelta(
            seconds=spec.progress_deadline_seconds
        )
        if self.now >= deadline:
            name = rs.name if rs else f"for {revision}"
            self.abort(
                revision,
                by=CONTROLLER,
                reason=f"canary ReplicaSet {name} had {available}/{want} pods available "
                f"with no progress for {spec.progress_deadline_seconds}s",
                code="ProgressDeadlineExceeded",
            )
            self.blocked(replicas, revision)
            return
        self.wake_at(deadline)
        self.progress_state(
            Phase.PROGRESSING,
            f"{label}: waiting for canary pods, {available}/{want} available",
            "CanaryScaling",
        )

    def advance(self, steps: list[Step], index: int, revision: Revision) -> None:
        self.update(
            current_step_index=index + 1, step_started_at=self.now, last_progress_at=self.now
        )
        if index + 1 < len(steps):
            self.events.append(
                Event(
                    type="Normal",
                    reason="StepStarted",
                    message=f"Step {index + 2}/{len(steps)} of {revision}: "
                    f"{_describe(steps[index + 1])}",
                )
            )

    def promote(self, revision: Revision, replicas: int) -> None:
        previous = self.status.stable_revision
        self.record(HistoryAction.PROMOTED, revision, by=CONTROLLER, reason="All steps completed")
        spec = self.rollout.spec.strategy.canary.analysis
        if spec is not None and spec.guard is not None and previous is not None:
            guard = analysis.begin_guard(
                spec, self.status.analysis, revision=revision, previous=previous, now=self.now
            )
            self.update(analysis=guard)
        self.update(
            stable_revision=revision,
            previous_stable_revision=previous,
            canary_revision=None,
            current_step_index=None,
            canary_weight=0,
            step_started_at=None,
        )
        self.steady(replicas)
        guard = self.status.analysis
        if guard is not None and guard.stage == analysis.GUARD and guard.revision == revision:
            # Never Healthy before the guard ends: `kubectl wait --for=condition=Completed`
            # must not return on a promotion the guard may still undo.
            ends = guard.ends_at or self.now
            self.wake_at(self.now)
            if self.status.phase is Phase.HEALTHY:
                self.progress_state(
                    Phase.PROGRESSING,
                    f"Revision {revision} promoted; guarding it against {previous} until "
                    f"{ends.isoformat()}",
                    "GuardRunning",
                )


def _describe(step: Step) -> str:
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}%"
    if step.analysis is not None:
        return f"analysis (at most {step.analysis.max_duration})"
    if step.pause is not None and step.pause.duration:
        return f"pause {step.pause.duration}"
    return "pause until promote"
