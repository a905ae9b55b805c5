"""``decide(rollout, world, now) -> Decision``: the entry point of the pure core.

Level-triggered: the decision depends only on the Rollout (spec, status,
request annotations), the observed Deployment and ReplicaSets, and the time.
Re-running it on the same inputs yields the same actions, so a crash between an
action and the status write is repaired by the next reconcile, never replayed
as a second step.
"""

from __future__ import annotations

from datetime import datetime

from controller.api.v1alpha1 import (
    HistoryAction,
    Phase,
    Rollout,
)
from controller.core import analysis, gates
from controller.core.actions import (
    Decision,
    EnsureFinalizer,
    Event,
    RemoveFinalizer,
    SetCanaryWeight,
    UpdateDeployment,
)
from controller.core.analysis import Measurements
from controller.core.canary import Canary, canary_replicas, step_weight
from controller.core.context import CONTROLLER, _must
from controller.core.revisions import Revision
from controller.core.world import (
    DeploymentView,
    Request,
    Verb,
    World,
    parse_requests,
)

FINALIZER = "landinggear.dev/hand-back"

__all__ = ["FINALIZER", "canary_replicas", "decide", "desired_replicas", "step_weight"]


def desired_replicas(rollout: Rollout, deployment: DeploymentView) -> int:
    """Pods the Rollout runs: its own ``spec.replicas``, else what the Deployment asked for."""
    if rollout.spec.replicas is not None:
        return rollout.spec.replicas
    if deployment.replicas > 0:
        return deployment.replicas  # adoption, or the user scaled the Deployment since
    return deployment.recorded_desired_replicas or 0


class _Run(Canary):
    """Adoption, requests, rollback and deletion around the canary machine."""

    def hand_back(self, deployment: DeploymentView | None, replicas: int) -> None:
        """Deletion: the Deployment runs its pods again before our ReplicaSets go."""
        if deployment is None or FINALIZER not in self.rollout.finalizers:
            if FINALIZER in self.rollout.finalizers:
                self.actions.append(RemoveFinalizer())
            return
        if deployment.paused or deployment.replicas != replicas:
            self.actions.append(
                UpdateDeployment(replicas=replicas, paused=False, desired_replicas=None)
            )
        elif deployment.handed_back:
            self.actions.append(RemoveFinalizer())
        self.update(
            phase=Phase.PROGRESSING,
            message=f"Handing Deployment {deployment.name} back: "
            f"{deployment.available_replicas}/{replicas} of its pods available",
        )

    def rollback(self, replicas: int) -> None:
        target = _must(self.status.rolling_back_to)
        bad = _must(self.status.stable_revision)
        self.ensure_rs(target, replicas, create=False)
        rs = self.world.replica_set(target)
        if rs is None:
            self.update(rolling_back_to=None)
            self.notes.append(f"rollback target {target} has no ReplicaSet any more")
            return
        if not rs.available_at(replicas):
            self.progress_state(
                Phase.PROGRESSING,
                f"Rolling back to {target}: {rs.available_replicas}/{replicas} pods available",
                "RollingBack",
            )
            return
        self.actions.append(SetCanaryWeight(weight=0, canary=None, stable=target))
        self.update(
            stable_revision=target,
            previous_stable_revision=bad,
            rolling_back_to=None,
        )

    # ------------------------------------------------------------ entry

    def run(self) -> None:
        deployment = self.world.deployment
        if self.rollout.deletion_timestamp is not None:
            replicas = desired_replicas(self.rollout, deployment) if deployment else 0
            self.hand_back(deployment, replicas)
            return
        if FINALIZER not in self.rollout.finalizers:
            self.actions.append(EnsureFinalizer())
        if deployment is None:
            name = self.rollout.spec.workload_ref.name
            message = f"Deployment {name} not found; existing pods are left running"
            self.update(phase=Phase.DEGRADED, message=message)
            self.conditions(
                progressing=(False, "WorkloadNotFound", message),
                paused=(False, "NotPaused", ""),
                completed=(False, "WorkloadNotFound", message),
                aborted=(False, "NotAborted", ""),
            )
            return
        replicas = desired_replicas(self.rollout, deployment)
        self.update(replicas=replicas)
        requests, errors = parse_requests(self.rollout.annotations)
        self.notes.extend(errors)
        pending = [r for r in requests if self.status.handled_requests.get(r.verb) != r.id]
        if pending:
            handled = dict(self.status.handled_requests)
            handled.update({r.verb.value: r.id for r in pending})
            self.update(handled_requests=handled)
        if self.status.stable_revision is None:
            self.update(stable_revision=deployment.revision)
            self.record(
                HistoryAction.ADOPTED,
                deployment.revision,
                by=CONTROLLER,
                reason=f"Took over Deployment {deployment.name} at {replicas} replicas",
            )
        self.handle(deployment, replicas, pending)
        self.manage_deployment(deployment, replicas)
        self.observe_counts()

    def handle(self, deployment: DeploymentView, replicas: int, pending: list[Request]) -> None:
        revision = deployment.revision
        stable = _must(self.status.stable_revision)
        canary_active = revision not in (stable, self.status.blocked_revision)
        for request in pending:
            if request.verb is Verb.RETRY and revision == self.status.blocked_revision:
                self.update(blocked_revision=None, canary_revision=None)
                self.record(HistoryAction.RETRIED, revision, by=request.by, reason="Retry")
                canary_active = revision != stable
            elif request.verb is Verb.ROLLBACK and not canary_active:
                self.start_rollback(request)
            elif request.verb in (Verb.PROMOTE, Verb.ABORT) and not canary_active:
                self.events.append(
                    Event(
                        type="Normal",
                        reason="RequestIgnored",
                        message=f"{request.verb.value} by {request.by}: no release in progress",
                    )
                )
        if self.status.rolling_back_to is None:
            self.guard()
        if self.status.rolling_back_to is not None:
            self.rollback(replicas)
            if self.status.rolling_back_to is not None:
                return
        if revision == _must(self.status.stable_revision):
            self.steady(replicas)
            if self.guarding and self.status.phase is Phase.HEALTHY:
                self.progress_state(Phase.PROGRESSING, self.guarding, "GuardRunning")
        elif revision == self.status.blocked_revision:
            self.blocked(replicas, revision)
        else:
            self.canary(deployment, replicas, [r for r in pending if r.verb is not Verb.RETRY])

    def guard(self) -> None:
        """After promotion: judge the new stable; roll back to the previous one on failure."""
        spec = self.rollout.spec.strategy.canary.analysis
        current = self.status.analysis
        stable = self.status.stable_revision
        if (
            spec is None
            or current is None
            or current.stage != analysis.GUARD
            or current.completed
            or current.revision != stable
        ):
            return
        outcome = analysis.analyse(spec, current, measurements=self.measurements, now=self.now)
        current = outcome.status
        self.update(analysis=current)
        ends = current.ends_at or self.now
        failed = outcome.failed
        if not failed and self.now >= ends:
            gate = gates.gate(spec, current, names=None, expired=True)
            failed = gate.failed
            if not failed:
                self.update(analysis=current.model_copy(update={"completed": True}))
                notes = f"; not judged: {gate.inconclusive}" if gate.inconclusive else ""
                self.events.append(
                    Event(
                        type="Warning" if gate.inconclusive else "Normal",
                        reason="GuardPassed",
                        message=f"{stable} held up for {spec.guard.duration if spec.guard else ''}"
                        f" after promotion{notes}",
                    )
                )
                return
        if failed:
            self.guard_failed(failed, current.baseline_revision)
            return
        if outcome.next_look is not None:
            self.wake_at(min(outcome.next_look, ends))
        else:
            self.wake_at(ends)
        held = f" (held: {outcome.holding})" if outcome.holding else ""
        self.guarding = (
            f"Revision {stable} serves all traffic; guarding it against "
            f"{current.baseline_revision} until {ends.isoformat()}{held}"
        )

    def guard_failed(self, why: str, previous: str | None) -> None:
        stable = _must(self.status.stable_revision)
        if previous is None or self.world.replica_set(Revision(previous)) is None:
            self.events.append(
                Event(
                    type="Warning",
                    reason="RollbackImpossible",
                    message=f"guard failed ({why}) but no previous revision is kept",
                )
            )
            current = self.status.analysis
            if current is not None:
                self.update(analysis=current.model_copy(update={"completed": True}))
            return
        self.record(
            HistoryAction.ROLLED_BACK,
            stable,
            by=CONTROLLER,
            reason=f"GuardFailed: {why} (back to {previous})",
        )
        self.update(rolling_back_to=previous, blocked_revision=stable)

    def rolled_back_template(self, target: str) -> str | None:
        """What to block after a rollback to ``target``: the Deployment's template.

        Blocking only matters for the template the Deployment holds: after rolling
        back a promoted revision that is that revision; after rolling back while an
        aborted template is held, it stays blocked (not released again by the way).
        """
        deployment = self.world.deployment
        template = deployment.revision if deployment else self.status.stable_revision
        return None if template == target else template

    def start_rollback(self, request: Request) -> None:
        target = self.status.previous_stable_revision
        stable = _must(self.status.stable_revision)
        if target is None or self.world.replica_set(Revision(target)) is None:
            self.events.append(
                Event(
                    type="Warning",
                    reason="RollbackImpossible",
                    message=f"rollback by {request.by}: no previous revision is kept",
                )
            )
            return
        why = request.reason or "rollback requested"
        self.record(
            HistoryAction.ROLLED_BACK, stable, by=request.by, reason=f"{why} (back to {target})"
        )
        self.update(rolling_back_to=target, blocked_revision=self.rolled_back_template(target))


def decide(
    rollout: Rollout, world: World, now: datetime, measurements: Measurements | None = None
) -> Decision:
    """What to do about ``rollout`` given the observed ``world`` at ``now``.

    ``measurements`` are the metric counts the I/O layer took for this look, if
    analysis looks were due (:func:`controller.core.analysis.plan`).
    """
    run = _Run(rollout, world, now, measurements)
    run.run()
    return run.decision()
