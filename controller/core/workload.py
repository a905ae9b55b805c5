"""The Rollout's ReplicaSets and the user's Deployment: which sizes to ask for (pure).

Every function takes the inputs and the draft and returns the draft with the
actions it needs: scale or create a ReplicaSet, route traffic away and scale the
others down (make before break), prune old ones, keep the Deployment paused at
zero, and hand it back on deletion.
"""

from __future__ import annotations

import dataclasses

from controller.api.analysis import Stage
from controller.api.routing import SetHeaderRoute
from controller.api.v1alpha1 import Phase
from controller.core.actions import (
    DeleteReplicaSet,
    EnsureReplicaSet,
    RemoveFinalizer,
    RemoveManagedRoutes,
    SetCanaryWeight,
    UpdateDeployment,
)
from controller.core.draft import Draft, Inputs, revision
from controller.core.revisions import Revision
from controller.core.world import DeploymentView

FINALIZER = "landinggear.dev/hand-back"


def ensure(inputs: Inputs, draft: Draft, rev: Revision, replicas: int, *, create: bool) -> Draft:
    """``rev``'s ReplicaSet at ``replicas`` pods; created from the template if ``create``."""
    world = inputs.world
    existing = world.replica_set(rev)
    if existing is not None and existing.replicas == replicas:
        return draft
    if existing is None and not create:
        return draft
    template = world.deployment.template if create and world.deployment else None
    return draft.act(EnsureReplicaSet(revision=rev, template=template, replicas=replicas))


def route(
    inputs: Inputs,
    draft: Draft,
    *,
    weight: int,
    canary: Revision | None,
    headers: tuple[SetHeaderRoute, ...] = (),
    stable: Revision | None = None,
) -> Draft:
    """Routes as wanted: ``weight`` percent (and ``headers``) to ``canary``, the rest to
    the stable; recorded in the status (the action verifies them before it is written).

    With a router this is asked on every reconcile that holds, so a hand edit of our
    weights is repaired; ``reached`` tells the router whether a change it makes is a
    repair. An equal route already asked for in this decision is not asked twice.
    """
    stable = stable or Revision(draft.status.stable_revision or "")
    seen = inputs.rollout.status  # as read: what earlier reconciles verified and recorded
    reached = (
        seen.canary_weight == weight
        and tuple(seen.header_routes) == headers
        and seen.stable_revision == stable
        and seen.canary_revision == canary
    )
    action = SetCanaryWeight(
        weight=weight,
        canary=canary,
        stable=stable,
        router=inputs.plan.router,
        header_routes=headers,
        reached=reached,
    )
    asked = [a for a in draft.actions if isinstance(a, SetCanaryWeight)]
    if not asked or dataclasses.replace(asked[-1], reached=reached) != action:
        draft = draft.act(action)
    return draft.with_status(canary_weight=weight, header_routes=list(headers))


def warm(inputs: Inputs, draft: Draft) -> set[Revision]:
    """Revisions kept at full size beside the stable: with a router, the previous stable
    while the guard judges the new one (a guard failure then only flips the routes)."""
    current = draft.status.analysis
    previous = draft.status.previous_stable_revision
    if (
        not inputs.plan.routed
        or previous is None
        or current is None
        or current.stage != Stage.GUARD
        or current.completed
        or current.revision != draft.status.stable_revision
    ):
        return set()
    return {Revision(previous)}


def scale_down_others(inputs: Inputs, draft: Draft, keep: set[Revision]) -> Draft:
    """Traffic off, then every other ReplicaSet to zero (kept for rollback)."""
    world = inputs.world
    others = [rs for rs in world.replica_sets if rs.revision not in keep and rs.replicas]
    if not others:
        return draft
    stable = draft.status.stable_revision
    kept = world.replica_set(revision(stable))
    if kept is None or not kept.available_at(draft.status.replicas):
        # Make before break: while the stable does not serve in full (e.g. the
        # record of a promotion was lost and the template went back), the
        # others keep serving; the stable's pods becoming Ready requeue us.
        return draft.note(f"held scale-down until stable {stable} serves in full")
    if stable is not None:
        draft = route(inputs, draft, weight=0, canary=None)
    scale = [EnsureReplicaSet(revision=rs.revision, template=None, replicas=0) for rs in others]
    return draft.act(*scale)


def prune_history(inputs: Inputs, draft: Draft, keep: set[Revision]) -> Draft:
    """Delete ReplicaSets at zero beyond ``revisionHistoryLimit``, oldest first."""
    limit = inputs.rollout.spec.revision_history_limit
    old = sorted(
        (rs for rs in inputs.world.replica_sets if rs.revision not in keep and not rs.replicas),
        key=lambda rs: (rs.created_at or inputs.now, rs.name),
    )
    doomed = [rs for rs in old[: max(0, len(old) - limit)] if not rs.being_deleted]
    return draft.act(*(DeleteReplicaSet(name=rs.name) for rs in doomed))


def manage_deployment(inputs: Inputs, draft: Draft, deployment: DeploymentView) -> Draft:
    """Keep the Deployment paused; scale it to zero once the stable serves in full."""
    replicas = inputs.replicas
    stable = inputs.world.replica_set(revision(draft.status.stable_revision))
    stable_ready = stable is not None and stable.available_at(replicas)
    want_replicas = 0 if stable_ready else deployment.replicas
    recorded = deployment.recorded_desired_replicas
    if (
        deployment.paused
        and deployment.replicas == want_replicas
        and recorded == replicas
        and deployment.labelled  # a user's apply may drop our label: put it back
    ):
        return draft
    return draft.act(
        UpdateDeployment(replicas=want_replicas, paused=True, desired_replicas=replicas)
    )


def hand_back(inputs: Inputs, draft: Draft) -> Draft:
    """Deletion: the Deployment runs its pods again before our ReplicaSets go.

    Routes this controller changed are removed before the finalizer goes. The
    Deployment keeps our label (so its pods becoming available are watched) until
    it serves in full; the label goes with the finalizer.
    """
    deployment = inputs.world.deployment
    finalized = FINALIZER in inputs.rollout.finalizers
    if deployment is None or not finalized:
        if finalized:
            draft = draft.act(_remove_routes(inputs, draft), RemoveFinalizer())
        return draft
    replicas = inputs.replicas
    if deployment.paused or deployment.replicas != replicas:
        draft = draft.act(UpdateDeployment(replicas=replicas, paused=False, desired_replicas=None))
    elif deployment.handed_back:
        if deployment.labelled:
            draft = draft.act(
                UpdateDeployment(
                    replicas=replicas, paused=False, desired_replicas=None, labelled=False
                )
            )
        draft = draft.act(_remove_routes(inputs, draft), RemoveFinalizer())
    return draft.with_status(
        phase=Phase.PROGRESSING,
        message=f"Handing Deployment {deployment.name} back: "
        f"{deployment.available_replicas}/{replicas} of its pods available",
    )


def _remove_routes(inputs: Inputs, draft: Draft) -> RemoveManagedRoutes:
    return RemoveManagedRoutes(
        stable=revision(draft.status.stable_revision), router=inputs.plan.router
    )
