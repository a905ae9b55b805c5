"""The states a release settles in: steady on the stable, or aborted and held back (pure).

``steady``: no canary wanted, the stable runs in full and everything else at
zero. ``blocked``: the Deployment's template was aborted or rolled back, so the
stable keeps all traffic until the template changes or a user retries.
``aborted`` records an abort and goes there, traffic to the stable first.
"""

from __future__ import annotations

from controller.api.flags import FlagTrigger
from controller.api.reasons import ConditionReason
from controller.api.v1alpha1 import HistoryAction, Phase
from controller.core import flags, workload
from controller.core.draft import CONTROLLER, Draft, Inputs, required, revision
from controller.core.holds import Abort
from controller.core.revisions import Revision


def steady(inputs: Inputs, draft: Draft) -> Draft:
    """No canary wanted: the stable runs in full, everything else at zero."""
    replicas = inputs.replicas
    stable = required(draft.status.stable_revision)
    if draft.status.canary_revision is not None:
        draft = draft.record(
            HistoryAction.SUPERSEDED,
            draft.status.canary_revision,
            by=CONTROLLER,
            reason="The Deployment's template went back to the stable revision",
        )
    draft = workload.ensure(inputs, draft, stable, replicas, create=True)
    if inputs.plan.routed:
        draft = workload.route(inputs, draft, weight=0, canary=None)
    keep = {stable, *workload.warm(inputs, draft)}
    draft = workload.scale_down_others(inputs, draft, keep=keep)
    draft = draft.with_status(current_step_index=None, canary_revision=None, canary_weight=0)
    rs = inputs.world.replica_set(stable)
    ready = rs is not None and rs.available_at(replicas)
    if ready:
        draft = draft.with_status(
            phase=Phase.HEALTHY, message=f"Revision {stable} serves all traffic"
        )
    else:
        have = rs.available_replicas if rs else 0
        draft = draft.with_status(
            phase=Phase.PROGRESSING,
            message=f"Waiting for stable {stable}: {have}/{replicas} pods available",
        )
    scaling = ConditionReason.STABLE_SCALING
    return draft.conditions(
        progressing=(not ready, scaling if not ready else ConditionReason.STABLE_AVAILABLE, ""),
        paused=(False, ConditionReason.NOT_PAUSED, ""),
        completed=(ready, ConditionReason.COMPLETED if ready else scaling, draft.status.message),
        aborted=(False, ConditionReason.NOT_ABORTED, ""),
    )


def blocked(inputs: Inputs, draft: Draft, held: Revision) -> Draft:
    """The Deployment's template ``held`` was aborted or rolled back: hold the stable."""
    stable = required(draft.status.stable_revision)
    draft = workload.ensure(inputs, draft, stable, inputs.replicas, create=False)
    if inputs.plan.routed:  # traffic to the stable first, read back, then scale down
        draft = workload.route(inputs, draft, weight=0, canary=None)
    draft = workload.scale_down_others(inputs, draft, keep={stable})
    draft = draft.with_status(current_step_index=None, canary_revision=None, canary_weight=0)
    last = next(
        (
            h
            for h in reversed(draft.status.history)
            if h.action in (HistoryAction.ABORTED, HistoryAction.ROLLED_BACK)
        ),
        None,
    )
    why = f"{last.action.value} by {last.by}: {last.reason}" if last else "Aborted"
    message = (
        f"{why}. Revision {held} is not released again until the Deployment's "
        f"template changes or `landinggear retry`"
    )
    draft = draft.with_status(phase=Phase.DEGRADED, message=message)
    reason = last.action if last else ConditionReason.ABORTED
    return draft.conditions(
        progressing=(False, reason, ""),
        paused=(False, ConditionReason.NOT_PAUSED, ""),
        completed=(False, reason, ""),
        aborted=(True, reason, message),
    )


def aborted(inputs: Inputs, draft: Draft, rev: Revision, abort: Abort, *, by: str) -> Draft:
    """Abort the release of ``rev``: recorded, then held back (``blocked`` routes all
    traffic to the stable *before* it scales the canary down); the flags that an abort
    switches off are wanted off (their actions come after the workload's)."""
    why = f"{abort.code}: {abort.reason}"
    draft = draft.with_status(blocked_revision=rev)
    draft = draft.record(HistoryAction.ABORTED, rev, by=by, reason=why)
    draft = flags.switch_off(inputs, draft, FlagTrigger.ABORT, reason=why, by=by)
    return blocked(inputs, draft, rev)


def observe_counts(inputs: Inputs, draft: Draft) -> Draft:
    """The stable's Ready and the canary's available pods, for the status."""
    stable = inputs.world.replica_set(revision(draft.status.stable_revision))
    canary = inputs.world.replica_set(revision(draft.status.canary_revision))
    return draft.with_status(
        stable_ready_replicas=stable.ready_replicas if stable else 0,
        canary_ready_replicas=canary.available_replicas if canary else 0,
    )
