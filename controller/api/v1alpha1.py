"""The ``landinggear.dev/v1alpha1`` ``Rollout`` API: one source of truth.

These pydantic models parse Rollouts read from the API server, serialise the
status the controller writes, and generate the CRD's OpenAPI schema
(:mod:`controller.api.crd`). CEL rules for what the schema alone cannot say are
attached to the models, next to the fields they guard, so the generated CRD refuses
a bad Rollout at ``kubectl apply`` time with the rule's message.

This module names the kind and holds the stored object (:class:`Rollout`); the
models live by concern — :mod:`~controller.api.spec` (workload and canary strategy),
:mod:`~controller.api.steps`, :mod:`~controller.api.status`,
:mod:`~controller.api.routing`, :mod:`~controller.api.analysis`,
:mod:`~controller.api.flags` — and the spec and status models are re-exported here,
so ``from controller.api import v1alpha1`` reaches the whole Rollout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from controller.api.base import Model
from controller.api.spec import CanaryStrategy, RolloutSpec, Strategy, WorkloadRef
from controller.api.status import (
    HISTORY_LIMIT,
    MAX_REQUEST_ID,
    Condition,
    ConditionType,
    HistoryAction,
    HistoryEntry,
    Phase,
    RolloutStatus,
)
from controller.api.steps import Pause, Step
from controller.api.wire import API_VERSION, GROUP, KIND, PLURAL, VERSION

__all__ = [
    "API_VERSION",
    "GROUP",
    "HISTORY_LIMIT",
    "KIND",
    "MAX_REQUEST_ID",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "CanaryStrategy",
    "Condition",
    "ConditionType",
    "HistoryAction",
    "HistoryEntry",
    "Pause",
    "Phase",
    "Rollout",
    "RolloutSpec",
    "RolloutStatus",
    "Step",
    "Strategy",
    "WorkloadRef",
    "status_to_object",
]

SINGULAR = "rollout"
SHORT_NAMES = ("lgro",)

_Model = Model
"""The base of every API model (:func:`controller.api.crd.openapi_schema` takes any)."""


class Rollout(Model):
    """A Rollout as stored: metadata fields the controller uses, spec and status."""

    name: str
    namespace: str
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    deletion_timestamp: datetime | None = None
    finalizers: tuple[str, ...] = ()
    annotations: dict[str, str] = Field(default_factory=dict)
    spec: RolloutSpec
    status: RolloutStatus = Field(default_factory=RolloutStatus)

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Rollout:
        """Parse the object as the API server returns it (raises pydantic.ValidationError)."""
        meta = obj.get("metadata", {})
        return cls.model_validate(
            {
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "generation": meta.get("generation", 0),
                "resourceVersion": meta.get("resourceVersion", ""),
                "deletionTimestamp": meta.get("deletionTimestamp"),
                "finalizers": tuple(meta.get("finalizers") or ()),
                "annotations": meta.get("annotations") or {},
                "spec": obj.get("spec", {}),
                "status": obj.get("status") or {},
            }
        )


def status_to_object(status: RolloutStatus) -> dict[str, Any]:
    """The status as the API server stores it (camelCase, RFC 3339 times, no nulls)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)
