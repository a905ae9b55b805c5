"""Kubernetes objects as plain dicts: their keys, and the fields a cache drops.

The generated client models are slow to build and large in memory, so the
runtime layer keeps objects exactly as ``json.loads`` decoded them. This module
holds the few helpers every part of the layer shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "KubeObject",
    "ObjectKey",
    "Transform",
    "key_of",
    "owner_uids",
    "resource_version_of",
    "strip_noise",
]

KubeObject = dict[str, Any]
"""One Kubernetes object as decoded from JSON."""

Transform = Callable[[KubeObject], KubeObject]
"""Prunes an object before it is cached; may modify and return its argument."""

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


class ObjectKey(NamedTuple):
    """Where an object lives: ``namespace`` is empty for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _metadata(obj: KubeObject) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def key_of(obj: KubeObject) -> ObjectKey:
    """The object's namespace and name."""
    metadata = _metadata(obj)
    return ObjectKey(str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def resource_version_of(obj: KubeObject) -> str:
    """The object's ``metadata.resourceVersion``, or ``""`` if it has none."""
    return str(_metadata(obj).get("resourceVersion") or "")


def owner_uids(obj: KubeObject) -> list[str]:
    """UIDs of the object's owner references; an index function for informers."""
    refs = _metadata(obj).get("ownerReferences") or []
    return [str(ref["uid"]) for ref in refs if isinstance(ref, dict) and ref.get("uid")]


def strip_noise(obj: KubeObject) -> KubeObject:
    """Drop ``managedFields`` and the last-applied annotation, in place.

    Both are large and no controller decision reads them (controller-runtime's
    ``TransformStripManagedFields`` does the same).
    """
    metadata = _metadata(obj)
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED_ANNOTATION, None)
        if not annotations:
            del metadata["annotations"]
    return obj
