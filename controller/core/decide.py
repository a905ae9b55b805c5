"""``decide(rollout, world, now, measurements) -> Decision``: the entry point of the pure core.

Level-triggered: the decision depends only on the Rollout (spec, status,
request annotations), the observed Deployment and ReplicaSets, the metric looks
handed in, and the time. Re-running it on the same inputs yields the same
actions, so a crash between an action and the status write is repaired by the
next reconcile, never replayed as a second step.

This module decides which path a reconcile takes — deletion, a missing
Deployment, adoption, user requests, the guard, a rollback in progress, the
steady state, a held-back template, or a release — and leaves each path to its
module.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.api.reasons import ConditionReason, EventReason, EventType
from controller.api.status import step_progress
from controller.api.v1alpha1 import HistoryAction, Phase, Rollout
from controller.core import flag_requests, flags, release, rollback, steps, workload
from controller.core.actions import Decision, EnsureFinalizer
from controller.core.draft import CONTROLLER, Draft, Inputs, required
from controller.core.guard import guard
from controller.core.measurements import Measurements
from controller.core.traffic import plan_for
from controller.core.workload import FINALIZER
from controller.core.world import DeploymentView, Request, Verb, World, parse_requests

__all__ = ["FINALIZER", "decide", "desired_replicas"]


def decide(
    rollout: Rollout,
    world: World,
    now: datetime,
    measurements: Measurements | None = None,
    *,
    looking: bool = False,
) -> Decision:
    """What to do about ``rollout`` given the observed ``world`` at ``now``.

    ``measurements`` are the metric looks the I/O layer took for this reconcile, if
    any were due (:func:`controller.core.looks.plan`). ``looking``: a look is still
    in flight; the I/O layer requeues the Rollout when it ends, so the decision sets
    no wake-up for the next look.
    """
    deployment = world.deployment
    inputs = Inputs(
        rollout=rollout,
        world=world,
        now=now,
        measurements=measurements,
        plan=plan_for(rollout),
        replicas=desired_replicas(rollout, deployment) if deployment else 0,
        looking=looking,
    )
    draft = _decide(inputs, Draft.start(rollout, now))
    total = len(rollout.spec.strategy.canary.steps)
    shown = step_progress(draft.status.current_step_index, total)
    return draft.with_status(step_progress=shown).decision()


def desired_replicas(rollout: Rollout, deployment: DeploymentView) -> int:
    """Pods the Rollout runs: its own ``spec.replicas``, else what the Deployment asked for."""
    if rollout.spec.replicas is not None:
        return rollout.spec.replicas
    if deployment.replicas > 0:
        return deployment.replicas  # adoption, or the user scaled the Deployment since
    return deployment.recorded_desired_replicas or 0


def _decide(inputs: Inputs, draft: Draft) -> Draft:
    rollout, deployment = inputs.rollout, inputs.world.deployment
    if rollout.deletion_timestamp is not None:
        return workload.hand_back(inputs, draft)
    if FINALIZER not in rollout.finalizers:
        draft = draft.act(EnsureFinalizer())
    if deployment is None:
        return _workload_missing(inputs, draft)
    if inputs.world.routing_problem is not None:
        return _routing_broken(inputs, draft, inputs.world.routing_problem)
    draft = draft.with_status(replicas=inputs.replicas)
    requests, errors = parse_requests(rollout.annotations)
    for error in errors:
        draft = draft.note(error)
    pending = [r for r in requests if draft.status.handled_requests.get(r.verb) != r.id]
    if pending:
        handled = dict(draft.status.handled_requests)
        handled.update({r.verb.value: r.id for r in pending})
        draft = draft.with_status(handled_requests=handled)
    if draft.status.stable_revision is None:
        draft = draft.with_status(stable_revision=deployment.revision)
        draft = draft.record(
            HistoryAction.ADOPTED,
            deployment.revision,
            by=CONTROLLER,
            reason=f"Took over Deployment {deployment.name} at {inputs.replicas} replicas",
        )
    for request in (r for r in pending if r.refused):
        draft = draft.emit(
            EventType.WARNING,
            EventReason.REQUEST_IGNORED,
            f"{request.verb.value} by {request.by} refused: {request.refused}; request it "
            "again with the landinggear CLI",
        )
    draft = _route(inputs, draft, deployment, [r for r in pending if not r.refused])
    draft = workload.manage_deployment(inputs, draft, deployment)
    draft = release.observe_counts(inputs, draft)
    return flags.drive(inputs, draft)  # last: the workload never waits for a flag provider


WORKLOAD_RECHECK = timedelta(seconds=5)
"""A Rollout whose Deployment is missing looks for it this often: only the Deployments
the controller labelled are watched, so a Deployment created later sends no event."""


def _workload_missing(inputs: Inputs, draft: Draft) -> Draft:
    name = inputs.rollout.spec.workload_ref.name
    message = f"Deployment {name} not found; existing pods are left running"
    draft = draft.with_status(phase=Phase.DEGRADED, message=message)
    draft = draft.wake(inputs.now + WORKLOAD_RECHECK)
    missing = ConditionReason.WORKLOAD_NOT_FOUND
    return draft.conditions(
        progressing=(False, missing, message),
        paused=(False, ConditionReason.NOT_PAUSED, ""),
        completed=(False, missing, message),
        aborted=(False, ConditionReason.NOT_ABORTED, ""),
    )


ROUTING_RECHECK = timedelta(seconds=10)
"""A Rollout whose routes are unusable is looked at again this often (routes are not watched)."""


def _routing_broken(inputs: Inputs, draft: Draft, problem: str) -> Draft:
    """The routes cannot be used: change nothing (pods, routes) until they can."""
    message = f"Traffic routing: {problem}; nothing is changed until it is fixed"
    if inputs.rollout.status.message != message:
        draft = draft.emit(EventType.WARNING, EventReason.TRAFFIC_ROUTING_FAILED, problem)
    draft = draft.with_status(phase=Phase.DEGRADED, message=message).wake(
        inputs.now + ROUTING_RECHECK
    )
    failed = ConditionReason.TRAFFIC_ROUTING_FAILED
    return draft.conditions(
        progressing=(False, failed, message),
        paused=(False, ConditionReason.NOT_PAUSED, ""),
        completed=(False, failed, message),
        aborted=(False, ConditionReason.NOT_ABORTED, ""),
    )


def _route(
    inputs: Inputs, draft: Draft, deployment: DeploymentView, pending: list[Request]
) -> Draft:
    """Requests that apply outside a release (and the flags' at any time), then the one
    path this reconcile takes."""
    rev = deployment.revision
    stable = required(draft.status.stable_revision)
    canary_active = rev not in (stable, draft.status.blocked_revision)
    for request in pending:
        if request.verb in flag_requests.VERBS:
            draft = flag_requests.act(inputs, draft, request)
        elif request.verb is Verb.RETRY and rev == draft.status.blocked_revision:
            draft = draft.with_status(blocked_revision=None, canary_revision=None)
            keep = request.keep_flags_off
            why = "Retry; feature flags kept off" if keep else "Retry"
            by_hand = [e.name for e in draft.status.feature_flags if flags.by_hand(e)]
            if by_hand and not keep:
                why += f"; {', '.join(by_hand)} switched off by hand stay off"
            draft = draft.record(HistoryAction.RETRIED, rev, by=request.by, reason=why)
            if not keep:
                draft = flags.restore(inputs, draft, by=request.by)
            canary_active = rev != stable
        elif request.verb is Verb.ROLLBACK and not canary_active:
            draft = rollback.start(inputs, draft, request)
        elif request.verb in (Verb.PROMOTE, Verb.ABORT) and not canary_active:
            draft = draft.emit(
                EventType.NORMAL,
                EventReason.REQUEST_IGNORED,
                f"{request.verb.value} by {request.by}: no release in progress",
            )
    guarding = None
    if draft.status.rolling_back_to is None:
        draft, guarding = guard(inputs, draft)
    if draft.status.rolling_back_to is not None:
        draft = rollback.carry_out(inputs, draft)
        if draft.status.rolling_back_to is not None:
            return draft
    if rev == required(draft.status.stable_revision):
        draft = release.steady(inputs, draft)
        if guarding is not None and draft.status.phase is Phase.HEALTHY:
            draft = draft.holding(guarding.reason, guarding.detail)
        return draft
    if rev == draft.status.blocked_revision:
        return release.blocked(inputs, draft, rev)
    releasing = [r for r in pending if r.verb in (Verb.PROMOTE, Verb.ABORT, Verb.ROLLBACK)]
    return steps.release_of(inputs, draft, deployment, releasing)
