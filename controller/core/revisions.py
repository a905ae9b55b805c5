"""Revisions: a deterministic hash of a pod template, and names derived from it."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NewType

Revision = NewType("Revision", str)
"""A pod-template hash: 10 characters from Kubernetes' safe alphabet."""

REVISION_LABEL = "landinggear.dev/pod-template-hash"
ROLLOUT_LABEL = "landinggear.dev/rollout"

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SafeEncodeString alphabet: no vowels


def template_hash(template: dict[str, Any]) -> Revision:
    """Hash a pod template as stored by the API server (canonical JSON, SHA-256).

    Our own labels are removed first, so a ReplicaSet's template hashes to the
    same revision as the Deployment template it was made from.
    """
    labels = dict(template.get("metadata", {}).get("labels") or {})
    labels.pop(REVISION_LABEL, None)
    labels.pop(ROLLOUT_LABEL, None)
    meta = {**template.get("metadata", {}), "labels": labels}
    canonical = json.dumps({**template, "metadata": meta}, sort_keys=True, separators=(",", ":"))
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_SAFE))
        chars.append(_SAFE[digit])
    return Revision("".join(chars))


def replica_set_name(rollout: str, revision: Revision) -> str:
    """Deterministic name of the ReplicaSet running ``revision`` for ``rollout``."""
    return f"{rollout[: 253 - 11]}-{revision}"
