"""The objects and patches the controller sends: built here, sent by the actuator."""

from __future__ import annotations

import copy
from typing import Any

from controller.api import v1alpha1
from controller.core.revisions import REVISION_LABEL, ROLLOUT_LABEL, Revision, replica_set_name
from controller.core.world import (
    DESIRED_REPLICAS_ANNOTATION,
    MANAGED_BY_ANNOTATION,
    MANAGED_BY_LABEL,
)

FIELD_MANAGER = "landinggear"
ISTIO_REVISION_LABEL = "service.istio.io/canonical-revision"
"""Istio reports this pod label as ``destination_canonical_revision``: the istio builtins
select revisions by it, so our pods carry the revision there unless the template sets it."""


def owner_reference(*, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def replica_set(
    *,
    rollout: str,
    rollout_uid: str,
    namespace: str,
    revision: Revision,
    template: dict[str, Any],
    selector: dict[str, Any],
    replicas: int,
    min_ready_seconds: int = 0,
) -> dict[str, Any]:
    """A ReplicaSet running ``revision``: the Deployment's template plus our labels.

    Its selector is the Deployment's plus the revision label, so the Deployment's
    own ReplicaSets never select its pods; the user's Service (which selects the
    app labels) selects stable and canary pods alike. Pods also carry the revision
    as Istio's canonical revision, unless the template names one itself.
    """
    ours = {REVISION_LABEL: revision, ROLLOUT_LABEL: rollout}
    pod_template = copy.deepcopy(template)
    meta = pod_template.setdefault("metadata", {})
    meta["labels"] = {ISTIO_REVISION_LABEL: revision, **(meta.get("labels") or {}), **ours}
    match = copy.deepcopy(selector) or {}
    match["matchLabels"] = {**(match.get("matchLabels") or {}), REVISION_LABEL: revision}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": replica_set_name(rollout, revision),
            "namespace": namespace,
            "labels": {**(template.get("metadata", {}).get("labels") or {}), **ours},
            "ownerReferences": [owner_reference(name=rollout, uid=rollout_uid)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready_seconds,
            "selector": match,
            "template": pod_template,
        },
    }


def label_value(name: str) -> str:
    """The Rollout's name as the value of :data:`MANAGED_BY_LABEL`; empty when too long
    for a label value (the selector tests only that the label is there)."""
    return name if len(name) <= 63 else ""


def deployment_patch(
    *,
    replicas: int,
    paused: bool,
    desired_replicas: int | None,
    rollout: str,
    labelled: bool = True,
) -> dict[str, Any]:
    """Merge patch scaling and pausing the user's Deployment (None removes annotations),
    labelled for the controller's watch or not."""
    managed = rollout if desired_replicas is not None else None
    return {
        "metadata": {
            "labels": {MANAGED_BY_LABEL: label_value(rollout) if labelled else None},
            "annotations": {
                DESIRED_REPLICAS_ANNOTATION: (
                    str(desired_replicas) if desired_replicas is not None else None
                ),
                MANAGED_BY_ANNOTATION: managed,
            },
        },
        "spec": {"replicas": replicas, "paused": paused},
    }
