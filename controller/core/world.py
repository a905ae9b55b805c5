"""The observed world as the core sees it: plain, immutable views of objects.

The I/O layer builds these from the cached API objects; the core never sees a
client object. Requests are the users' one-shot commands (promote, abort …,
``flags-off`` and ``flags-restore`` with the flags they name), stored by the CLI
as annotations on the Rollout.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.api.wire import MAX_FLAGS, MAX_REQUEST_ID
from controller.core.revisions import Revision

MANUAL = "Manual"
"""The prefix of the reason of a flag switched off by hand (``Manual: <why>``), by a
``flags-off`` request."""
REQUEST_ANNOTATION_PREFIX = "request.landinggear.dev/"
DESIRED_REPLICAS_ANNOTATION = "landinggear.dev/desired-replicas"
MANAGED_BY_ANNOTATION = "landinggear.dev/managed-by-rollout"
MANAGED_BY_LABEL = "landinggear.dev/managed-by-rollout"
"""On a Deployment a Rollout adopted: the controller watches (and caches) only the
Deployments carrying it. Its value is the Rollout's name when that fits a label value."""


@dataclass(frozen=True, kw_only=True)
class DeploymentView:
    """The user's Deployment: template holder, scaled to zero once adopted."""

    name: str
    uid: str
    template: dict[str, Any]
    revision: Revision
    replicas: int
    paused: bool
    annotations: dict[str, str] = field(default_factory=dict)
    labelled: bool = True
    """It carries :data:`MANAGED_BY_LABEL` (the controller watches it)."""
    selector: dict[str, Any] = field(default_factory=dict)
    """The Deployment's label selector (``matchLabels`` / ``matchExpressions``)."""
    min_ready_seconds: int = 0
    generation: int = 0
    observed_generation: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0

    @property
    def recorded_desired_replicas(self) -> int | None:
        value = self.annotations.get(DESIRED_REPLICAS_ANNOTATION)
        return int(value) if value is not None and value.isdigit() else None

    @property
    def handed_back(self) -> bool:
        """The Deployment's own pods run its current template at full scale."""
        return (
            not self.paused
            and self.observed_generation >= self.generation
            and self.updated_replicas >= self.replicas
            and self.available_replicas >= self.replicas
        )


@dataclass(frozen=True, kw_only=True)
class ReplicaSetView:
    """A ReplicaSet owned by the Rollout, running one revision."""

    name: str
    revision: Revision
    replicas: int
    ready_replicas: int = 0
    available_replicas: int = 0
    status_current: bool = True
    """The ReplicaSet controller has observed the latest spec (observedGeneration)."""
    being_deleted: bool = False
    created_at: datetime | None = None

    def available_at(self, replicas: int) -> bool:
        """Scaled to ``replicas`` and that many pods are available."""
        return (
            self.status_current
            and self.replicas == replicas
            and self.available_replicas >= replicas
        )


class Verb(StrEnum):
    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"
    ROLLBACK = "rollback"
    FLAGS_OFF = "flags-off"
    """``landinggear flags off``: switch flags off by hand, without a rollback."""
    FLAGS_RESTORE = "flags-restore"
    """``landinggear flags restore``: put flags that are off back as they were."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """A user's one-shot command, identified so it is acted on exactly once."""

    verb: Verb
    id: str
    by: str
    at: datetime
    full: bool = False
    reason: str = ""
    keep_flags_off: bool = False
    """``retry --keep-flags-off``: release again, leave the feature flags off."""
    flags: tuple[str, ...] = ()
    """``flags-off`` / ``flags-restore``: the flag handles named; none: every declared flag."""
    refused: str = ""
    """Why the request is refused rather than acted on (its id is over
    :data:`MAX_REQUEST_ID` characters; ``id`` is then a digest of it, short enough for
    ``handledRequests``, so the refusal is told once)."""


@dataclass(frozen=True, kw_only=True)
class World:
    """Everything the core may look at besides the Rollout itself."""

    deployment: DeploymentView | None
    replica_sets: tuple[ReplicaSetView, ...] = ()
    routing_problem: str | None = None
    """What makes the Rollout's trafficRouting unusable (a missing CRD, route, rule), as
    the router found it before this reconcile; None when it is usable or unused."""

    def replica_set(self, revision: Revision | None) -> ReplicaSetView | None:
        if revision is None:
            return None
        return next((rs for rs in self.replica_sets if rs.revision == revision), None)


def parse_requests(annotations: dict[str, str]) -> tuple[list[Request], list[str]]:
    """Requests found in the annotations, oldest first, and errors for unreadable ones."""
    requests: list[Request] = []
    errors: list[str] = []
    for key, raw in annotations.items():
        if not key.startswith(REQUEST_ANNOTATION_PREFIX):
            continue
        name = key.removeprefix(REQUEST_ANNOTATION_PREFIX)
        try:
            verb = Verb(name)
            body = json.loads(raw, object_pairs_hook=_unique_keys)
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            request_id, refused = _bounded_id(str(body["id"]))
            requests.append(
                Request(
                    verb=verb,
                    id=request_id,
                    refused=refused,
                    by=str(body.get("by") or "unknown"),
                    at=datetime.fromisoformat(body["at"]),
                    full=bool(body.get("full", False)),
                    reason=str(body.get("reason", ""))[:512],
                    keep_flags_off=bool(body.get("keepFlagsOff", False)),
                    flags=_flag_names(body.get("flags", [])),
                )
            )
        except (ValueError, KeyError, TypeError) as err:
            errors.append(f"ignored unreadable request annotation {key}: {err}")
    requests.sort(key=lambda r: r.at)
    return requests, errors


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: with ``"by"`` twice, admission would check
    one (manifests/controller/admission.yaml) and ``json.loads`` keep the other."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"{key!r} given twice")
        seen[key] = value
    return seen


def _bounded_id(request_id: str) -> tuple[str, str]:
    """The id as kept in the status, and why the request is refused ("" if it is not)."""
    if len(request_id) <= MAX_REQUEST_ID:
        return request_id, ""
    digest = "sha256:" + hashlib.sha256(request_id.encode()).hexdigest()[:32]
    why = f"its id is {len(request_id)} characters long, at most {MAX_REQUEST_ID} are allowed"
    return digest, why


def _flag_names(raw: object) -> tuple[str, ...]:
    """A request's ``flags``: a list of at most :data:`MAX_FLAGS` handles, duplicates dropped."""
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise TypeError("flags is not a list of flag names")
    names = tuple(dict.fromkeys(raw))
    if len(names) > MAX_FLAGS:
        raise ValueError(f"names {len(names)} flags; a Rollout declares at most {MAX_FLAGS}")
    return names


def request_annotation(request: Request) -> tuple[str, str]:
    """The annotation key and value the CLI writes for ``request``."""
    body: dict[str, Any] = {"id": request.id, "by": request.by, "at": request.at.isoformat()}
    if request.full:
        body["full"] = True
    if request.reason:
        body["reason"] = request.reason
    if request.keep_flags_off:
        body["keepFlagsOff"] = True
    if request.flags:
        body["flags"] = list(request.flags)
    return REQUEST_ANNOTATION_PREFIX + request.verb.value, json.dumps(body, sort_keys=True)
