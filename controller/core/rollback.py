"""Rolling back to the previous stable: started by a user or by the guard, then carried out (pure).

A rollback is recorded at once (``RolledBack`` in the history, the rolled-back
template blocked) and carried out over reconciles: the previous ReplicaSet is
scaled up, and only once it serves in full does traffic move and the stable
change.
"""

from __future__ import annotations

from controller.api.flags import FlagTrigger
from controller.api.reasons import AbortCode, EventReason, EventType, HoldReason
from controller.api.v1alpha1 import HistoryAction
from controller.core import flags, workload
from controller.core.draft import CONTROLLER, Draft, Inputs, required
from controller.core.revisions import Revision
from controller.core.world import Request


def start(inputs: Inputs, draft: Draft, request: Request) -> Draft:
    """A user asked to roll back: back to the previous stable, if one is kept."""
    target = draft.status.previous_stable_revision
    stable = required(draft.status.stable_revision)
    if target is None or inputs.world.replica_set(Revision(target)) is None:
        return draft.emit(
            EventType.WARNING,
            EventReason.ROLLBACK_IMPOSSIBLE,
            f"rollback by {request.by}: no previous revision is kept",
        )
    why = f"{request.reason or 'rollback requested'} (back to {target})"
    draft = draft.record(HistoryAction.ROLLED_BACK, stable, by=request.by, reason=why)
    draft = flags.switch_off(inputs, draft, FlagTrigger.ROLLBACK, reason=why, by=request.by)
    return draft.with_status(
        rolling_back_to=target, blocked_revision=_template_to_block(inputs, draft, target)
    )


def guard_failed(inputs: Inputs, draft: Draft, *, failed: str, previous: str | None) -> Draft:
    """The guard failed (``failed``: the evidence): roll the new stable back to
    ``previous`` and block it. The flags a guard failure switches off go off even when
    no previous revision is kept to roll back to."""
    stable = required(draft.status.stable_revision)
    draft = flags.switch_off(
        inputs, draft, FlagTrigger.GUARD_FAILURE, reason=f"{stable}: {failed}", by=CONTROLLER
    )
    if previous is None or inputs.world.replica_set(Revision(previous)) is None:
        draft = draft.emit(
            EventType.WARNING,
            EventReason.ROLLBACK_IMPOSSIBLE,
            f"guard failed ({failed}) but no previous revision is kept",
        )
        current = draft.status.analysis
        if current is not None:
            draft = draft.with_status(analysis=current.model_copy(update={"completed": True}))
        return draft
    why = f"{AbortCode.GUARD_FAILED}: {failed} (back to {previous})"
    draft = draft.record(HistoryAction.ROLLED_BACK, stable, by=CONTROLLER, reason=why)
    return draft.with_status(rolling_back_to=previous, blocked_revision=stable)


def carry_out(inputs: Inputs, draft: Draft) -> Draft:
    """Scale the target up; once it serves in full, move traffic and make it the stable."""
    target = required(draft.status.rolling_back_to)
    bad = required(draft.status.stable_revision)
    replicas = inputs.replicas
    draft = workload.ensure(inputs, draft, target, replicas, create=False)
    rs = inputs.world.replica_set(target)
    if rs is None:
        draft = draft.with_status(rolling_back_to=None)
        return draft.note(f"rollback target {target} has no ReplicaSet any more")
    if not rs.available_at(replicas):
        return draft.holding(
            HoldReason.ROLLING_BACK,
            f"Rolling back to {target}: {rs.available_replicas}/{replicas} pods available",
        )
    draft = workload.route(inputs, draft, weight=0, canary=None, stable=target)
    return draft.with_status(
        stable_revision=target, previous_stable_revision=bad, rolling_back_to=None
    )


def _template_to_block(inputs: Inputs, draft: Draft, target: str) -> str | None:
    """What to block after a rollback to ``target``: the Deployment's template.

    Blocking only matters for the template the Deployment holds: after rolling
    back a promoted revision that is that revision; after rolling back while an
    aborted template is held, it stays blocked (not released again by the way).
    """
    deployment = inputs.world.deployment
    template = deployment.revision if deployment else draft.status.stable_revision
    return None if template == target else template
