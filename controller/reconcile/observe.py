"""Build the core's view of the world from cached API objects (plain dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.core.revisions import REVISION_LABEL, Revision, template_hash
from controller.core.world import MANAGED_BY_LABEL, DeploymentView, ReplicaSetView, World


def deployment_view(obj: dict[str, Any]) -> DeploymentView:
    meta, spec, status = obj["metadata"], obj.get("spec", {}), obj.get("status", {})
    template = spec.get("template", {})
    return DeploymentView(
        name=meta["name"],
        uid=meta.get("uid", ""),
        template=template,
        revision=template_hash(template),
        replicas=spec.get("replicas", 1),
        paused=bool(spec.get("paused", False)),
        annotations=dict(meta.get("annotations") or {}),
        labelled=MANAGED_BY_LABEL in (meta.get("labels") or {}),
        selector=spec.get("selector") or {},
        min_ready_seconds=spec.get("minReadySeconds", 0),
        generation=meta.get("generation", 0),
        observed_generation=status.get("observedGeneration", 0),
        updated_replicas=status.get("updatedReplicas", 0),
        available_replicas=status.get("availableReplicas", 0),
    )


def replica_set_view(obj: dict[str, Any]) -> ReplicaSetView | None:
    """The view of one of our ReplicaSets, or None when it carries no revision label."""
    meta, spec, status = obj["metadata"], obj.get("spec", {}), obj.get("status", {})
    revision = (meta.get("labels") or {}).get(REVISION_LABEL)
    if revision is None:
        return None
    created = meta.get("creationTimestamp")
    return ReplicaSetView(
        name=meta["name"],
        revision=Revision(revision),
        replicas=spec.get("replicas", 1),
        ready_replicas=status.get("readyReplicas", 0),
        available_replicas=status.get("availableReplicas", 0),
        status_current=status.get("observedGeneration", 0) >= meta.get("generation", 0),
        being_deleted=meta.get("deletionTimestamp") is not None,
        created_at=datetime.fromisoformat(created) if created else None,
    )


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(
        ref.get("uid") == uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def world(
    *,
    deployment: dict[str, Any] | None,
    replica_sets: list[dict[str, Any]],
    rollout_uid: str,
) -> World:
    """The world of one Rollout: its Deployment and the ReplicaSets it controls."""
    views = [
        view
        for rs in replica_sets
        if owned_by(rs, rollout_uid) and (view := replica_set_view(rs)) is not None
    ]
    return World(
        deployment=deployment_view(deployment) if deployment is not None else None,
        replica_sets=tuple(sorted(views, key=lambda v: v.name)),
    )
