"""The canary step machine: setWeight, pause and analysis steps, then the promotion (pure).

One release is the canary revision going through ``spec.strategy.canary.steps``.
Each reconcile runs :func:`release`: user requests first, then the metric
analysis, then as many steps as may complete now. At each step the holds
(:mod:`controller.core.holds`, :mod:`controller.core.gates`) say whether the
machine stays; the traffic plan (:mod:`controller.core.traffic`) says how many
pods the step's weight takes and when it is served.

Replicas and weights are set only where the machine *holds*, never for a step
it passes through: after a lost status write the world can already be ahead of
the recorded step, and passing through must not scale the canary back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.api.analysis import Stage
from controller.api.reasons import AbortCode, EventReason, EventType, HoldReason
from controller.api.v1alpha1 import ConditionType, HistoryAction, Phase, Step
from controller.core import analysis, flags, gates, holds, looks, release, traffic, workload
from controller.core.draft import CONTROLLER, Draft, Inputs, required, revision
from controller.core.holds import Abort, Hold
from controller.core.revisions import Revision
from controller.core.traffic import TrafficTarget
from controller.core.world import DeploymentView, Request, Verb

MAX_STEPS_PER_RECONCILE = 128


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


def release_of(
    inputs: Inputs, draft: Draft, deployment: DeploymentView, pending: list[Request]
) -> Draft:
    """Run the release of the Deployment's template as far as it may go now."""
    steps = inputs.rollout.spec.strategy.canary.steps
    rev = deployment.revision
    stable = required(draft.status.stable_revision)
    if draft.status.canary_revision != rev:
        draft = _start(inputs, draft, deployment)
    for request in pending:
        if request.verb in (Verb.ABORT, Verb.ROLLBACK):
            why = request.reason or f"{request.verb.value} requested"
            abort = Abort(code=AbortCode.ABORTED_BY_USER, reason=why)
            return release.aborted(inputs, draft, rev, abort, by=request.by)
    promoted_by = None
    for request in pending:
        if request.verb is Verb.PROMOTE:
            promoted_by = request.by
            draft = _promote_request(draft, request, len(steps))
    if not inputs.rollout.spec.paused and _was_paused_by_user(inputs):
        draft = draft.with_status(last_progress_at=inputs.now)  # the deadline restarts on resume
    draft, verdict = judge(inputs, draft, rev, promoted_by=promoted_by)
    if isinstance(verdict, Abort):
        return release.aborted(inputs, draft, rev, verdict, by=CONTROLLER)
    keep = {stable, rev}
    draft = workload.scale_down_others(inputs, draft, keep=keep)
    in_force = TrafficTarget(weight=draft.status.canary_weight)
    stable_size = inputs.plan.sizes(in_force, replicas=inputs.replicas).stable
    draft = workload.ensure(inputs, draft, stable, stable_size, create=False)
    for _ in range(MAX_STEPS_PER_RECONCILE):
        draft, more = run_step(inputs, draft, rev, analysis_hold=verdict)
        if not more:
            break
    previous = revision(draft.status.previous_stable_revision)
    return workload.prune_history(inputs, draft, keep={*keep, *([previous] if previous else [])})


def _start(inputs: Inputs, draft: Draft, deployment: DeploymentView) -> Draft:
    """A new template: a new release from step 0, judged afresh."""
    if draft.status.canary_revision is not None:
        draft = draft.record(
            HistoryAction.SUPERSEDED,
            draft.status.canary_revision,
            by=CONTROLLER,
            reason=f"A newer template ({deployment.revision}) replaced it mid-release",
        )
    draft = draft.with_status(
        canary_revision=deployment.revision,
        analysis=None,  # a new release is judged afresh, never on an old verdict
        current_step_index=0,
        canary_weight=0,
        step_started_at=inputs.now,
        step_unjudged_seconds=0.0,
        last_progress_at=inputs.now,
        canary_ready_replicas=0,
        blocked_revision=None,
    )
    return draft.record(
        HistoryAction.RELEASE_STARTED,
        deployment.revision,
        by=CONTROLLER,
        reason=f"Deployment {deployment.name} template changed",
    )


def _promote_request(draft: Draft, request: Request, steps: int) -> Draft:
    index = draft.status.current_step_index or 0
    target = steps if request.full else min(index + 1, steps)
    draft = draft.with_status(
        current_step_index=target,
        step_started_at=draft.now,
        step_unjudged_seconds=0.0,
        last_progress_at=draft.now,
    )
    return draft.emit(
        EventType.NORMAL,
        EventReason.PROMOTED if request.full else EventReason.STEP_SKIPPED,
        f"{request.by} promoted{' fully' if request.full else ''} from step {index}",
    )


def _was_paused_by_user(inputs: Inputs) -> bool:
    return any(
        c.type is ConditionType.PAUSED
        and c.status == "True"
        and c.reason == HoldReason.PAUSED_BY_USER
        for c in inputs.rollout.status.conditions
    )


def judge(
    inputs: Inputs, draft: Draft, rev: Revision, *, promoted_by: str | None
) -> tuple[Draft, Hold | Abort | None]:
    """Fold the measurements into the canary's analysis: abort on a failed metric,
    hold when one is inconclusive (a user's promote in this reconcile overrides)."""
    spec = inputs.rollout.spec.strategy.canary.analysis
    if spec is None:
        return draft.with_status(analysis=None), None
    current = analysis.begin(
        spec, draft.status.analysis, revision=rev, stage=Stage.CANARY, now=inputs.now
    )
    if promoted_by is not None and current.overridden_by is None:
        current = current.model_copy(update={"overridden_by": promoted_by})
    outcome = analysis.analyse(
        spec, current, measurements=inputs.measurements, now=inputs.now, looking=inputs.looking
    )
    draft = draft.with_status(analysis=outcome.status)
    for text in outcome.unmeasurable:
        draft = draft.emit(EventType.WARNING, EventReason.METRIC_UNMEASURABLE, text)
    started = draft.status.step_started_at or inputs.now
    lost = analysis.spell_seconds(outcome.recovered_from, since=started, now=inputs.now)
    if lost:  # the step's clock did not run while nothing could be measured
        draft = draft.with_status(step_unjudged_seconds=draft.status.step_unjudged_seconds + lost)
    if outcome.failed:
        instead = flags.disable_instead_of_abort(
            inputs, draft, outcome.status, failed=outcome.failed
        )
        if instead is not None:  # onAnomaly: DisableFlags, the first failure
            return instead, None
        return draft, Abort(code=AbortCode.ANALYSIS_FAILED, reason=outcome.failed)
    draft = draft.wake(outcome.next_look)
    if outcome.holding:
        return draft, Hold(reason=HoldReason.ANALYSIS_INCONCLUSIVE, detail=outcome.holding)
    return draft, None


def run_step(
    inputs: Inputs, draft: Draft, rev: Revision, *, analysis_hold: Hold | None
) -> tuple[Draft, bool]:
    """Bring the current step about; True when it completed and the next may run."""
    spec = inputs.rollout.spec
    steps = spec.strategy.canary.steps
    index = draft.status.current_step_index or 0
    at_promotion = index >= len(steps)
    promotion = (
        gates.promotion(spec.strategy.canary.analysis, draft.status.analysis)
        if at_promotion
        else None
    )
    if isinstance(promotion, Hold) and promotion.reason is HoldReason.ANALYSIS_INCONCLUSIVE:
        analysis_hold = promotion  # its words are the promotion gate's
    # Held at the promotion by the analysis, the canary keeps the last step's
    # traffic: an unjudged canary is never scaled up to take over.
    promoting = at_promotion and analysis_hold is None and not isinstance(promotion, Hold)
    in_force = index if promoting else min(index, len(steps) - 1)
    weight = step_weight(steps, in_force)
    target = TrafficTarget(weight=weight, scale=traffic.scale_in_force(steps, in_force))
    want = inputs.plan.sizes(target, replicas=inputs.replicas).canary
    rs = inputs.world.replica_set(rev)
    available = rs.available_replicas if rs else 0
    if available > draft.status.canary_ready_replicas:
        draft = draft.with_status(last_progress_at=inputs.now)
    draft = draft.with_status(canary_ready_replicas=available)
    ready = inputs.plan.serves(target, replicas=inputs.replicas, canary=rs)
    started = draft.status.step_started_at or inputs.now
    # A pause or an analysis step's maxDuration counts only time the metrics were measured.
    unjudged = draft.status.step_unjudged_seconds + analysis.unjudged_seconds(
        draft.status.analysis, since=started, now=inputs.now
    )
    clock = started + timedelta(seconds=unjudged)
    hold = holds.step_hold(
        paused=spec.paused,
        analysis=analysis_hold,
        scaling=None
        if ready
        else holds.scaling_hold(
            available=available,
            want=want,
            last_progress=draft.status.last_progress_at or inputs.now,
            deadline_seconds=spec.progress_deadline_seconds,
            replica_set=rs.name if rs else f"for {rev}",
            now=inputs.now,
        ),
        step=promotion if at_promotion else _step_answer(inputs, draft, steps[index], clock),
    )
    if hold is None and (at_promotion or steps[index].pause is not None):
        hold = _overdue_look(inputs, draft)
    if hold is None:
        if at_promotion:
            return promote(inputs, draft, rev), False
        return _advance(draft, steps, index, rev), True
    if isinstance(hold, Abort):
        return release.aborted(inputs, draft, rev, hold, by=CONTROLLER), False
    if inputs.plan.routed:  # asked every time: a hand edit of the routes is repaired
        routed = weight if ready else draft.status.canary_weight
        headers = traffic.header_routes_in_force(steps, in_force)
        if want == 0:  # setCanaryScale 0: nothing may be routed to a canary with no pods
            routed, headers = 0, ()
        # Routes first: a canary scaled down (setCanaryScale) has lost its traffic before.
        draft = workload.route(inputs, draft, weight=routed, canary=rev, headers=headers)
        draft = workload.ensure(inputs, draft, rev, want, create=True)
    else:
        draft = workload.ensure(inputs, draft, rev, want, create=True)
        if ready and draft.status.canary_weight != weight:
            draft = workload.route(inputs, draft, weight=weight, canary=rev)
    label = f"step {index + 1}/{len(steps)}" if index < len(steps) else "promotion"
    draft = draft.holding(hold.reason, describe(hold, label=label, weight=weight))
    return draft.wake(hold.wake_at), False


def _overdue_look(inputs: Inputs, draft: Draft) -> Hold | None:
    """A pause ends, and the canary is promoted, only on looks that are up to date:
    after a time with no controller looking, the counts since are judged first."""
    spec = inputs.rollout.spec.strategy.canary.analysis
    if spec is None or draft.status.analysis is None:
        return None
    late = looks.overdue(spec, draft.status.analysis, now=inputs.now)
    if not late:
        return None
    return Hold(reason=HoldReason.ANALYSIS_RUNNING, detail=f"measuring first ({late})")


def _step_answer(inputs: Inputs, draft: Draft, step: Step, started: datetime) -> holds.Answer:
    """What a step's own condition says: an ``analysis`` step's gate, or a pause."""
    if step.analysis is not None:
        spec = inputs.rollout.spec.strategy.canary.analysis
        return gates.analysis_step(
            spec, draft.status.analysis, step, started=started, now=inputs.now
        )
    return holds.pause_hold(step, started=started, now=inputs.now)


_MESSAGES = {
    HoldReason.PAUSED_BY_USER: "Paused by user at {label}",
    HoldReason.ANALYSIS_INCONCLUSIVE: "{label}: held, metrics cannot be judged: {detail}",
    HoldReason.ANALYSIS_RUNNING: "{label}: waiting for the analysis: {detail}",
    HoldReason.CANARY_SCALING: "{label}: waiting for canary pods, {detail}",
    HoldReason.WAITING_FOR_PROMOTE: "{label}: paused at {weight}% until `landinggear promote`",
    HoldReason.TIMED_PAUSE: "{label}: paused at {weight}% until {until}",
}


def describe(hold: Hold, *, label: str, weight: int) -> str:
    """The status message of a release held at ``label`` (a step, or the promotion)."""
    template = _MESSAGES.get(hold.reason, "{label}: {reason} {detail}")
    until = hold.wake_at.isoformat() if hold.wake_at else ""
    return template.format(
        label=label, detail=hold.detail, weight=weight, until=until, reason=hold.reason
    ).rstrip()


def _advance(draft: Draft, steps: list[Step], index: int, rev: Revision) -> Draft:
    draft = draft.with_status(
        current_step_index=index + 1,
        step_started_at=draft.now,
        step_unjudged_seconds=0.0,
        last_progress_at=draft.now,
    )
    if index + 1 >= len(steps):
        return draft
    return draft.emit(
        EventType.NORMAL,
        EventReason.STEP_STARTED,
        f"Step {index + 2}/{len(steps)} of {rev}: {_describe_step(steps[index + 1])}",
    )


def promote(inputs: Inputs, draft: Draft, rev: Revision) -> Draft:
    """All steps done: ``rev`` becomes the stable; the guard, if any, starts watching it."""
    previous = draft.status.stable_revision
    draft = draft.record(HistoryAction.PROMOTED, rev, by=CONTROLLER, reason="All steps completed")
    spec = inputs.rollout.spec.strategy.canary.analysis
    if spec is not None and spec.guard is not None and previous is not None:
        guard = analysis.begin_guard(
            spec, draft.status.analysis, revision=rev, previous=previous, now=inputs.now
        )
        draft = draft.with_status(analysis=guard)
    draft = draft.with_status(
        stable_revision=rev,
        previous_stable_revision=previous,
        canary_revision=None,
        current_step_index=None,
        canary_weight=0,
        step_started_at=None,
        step_unjudged_seconds=0.0,
    )
    draft = release.steady(inputs, draft)
    guard = draft.status.analysis
    if guard is None or guard.stage != Stage.GUARD or guard.revision != rev:
        return draft
    # Never Healthy before the guard ends: `kubectl wait --for=condition=Completed`
    # must not return on a promotion the guard may still undo.
    ends = guard.ends_at or inputs.now
    draft = draft.wake(inputs.now)
    if draft.status.phase is not Phase.HEALTHY:
        return draft
    message = f"Revision {rev} promoted; guarding it against {previous} until {ends.isoformat()}"
    return draft.holding(HoldReason.GUARD_RUNNING, message)


def _describe_step(step: Step) -> str:
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}%"
    if step.analysis is not None:
        return f"analysis (at most {step.analysis.max_duration})"
    if step.pause is not None and step.pause.duration:
        return f"pause {step.pause.duration}"
    return "pause until promote"
