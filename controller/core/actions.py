"""What the core asks the I/O layer to do, and the decision that carries it.

Every action states a desired end state ("this ReplicaSet has 3 replicas"), not
a delta, so applying one twice — after a crash, or from a retried reconcile — is
harmless. The I/O layer applies them in order and stops at the first failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.api.flags import FeatureFlag, FlagState
from controller.api.reasons import EventReason, EventType
from controller.api.routing import SetHeaderRoute
from controller.api.v1alpha1 import HistoryAction, RolloutStatus
from controller.core.revisions import Revision
from controller.core.traffic import REPLICA_RATIO


@dataclass(frozen=True, kw_only=True)
class EnsureFinalizer:
    """Add the Rollout's finalizer, so deletion hands the workload back first."""


@dataclass(frozen=True, kw_only=True)
class RemoveFinalizer:
    """Let the Rollout go; its ReplicaSets are garbage-collected after it."""


@dataclass(frozen=True, kw_only=True)
class EnsureReplicaSet:
    """Create the ReplicaSet for ``revision`` from ``template`` or scale it to ``replicas``."""

    revision: Revision
    template: dict[str, Any] | None
    """Pod template to create from; None means scale only (never create)."""
    replicas: int


@dataclass(frozen=True, kw_only=True)
class DeleteReplicaSet:
    """Remove an old ReplicaSet beyond the revision history limit."""

    name: str


@dataclass(frozen=True, kw_only=True)
class UpdateDeployment:
    """Scale/pause the user's Deployment and record the desired replica count."""

    replicas: int
    paused: bool
    desired_replicas: int | None
    labelled: bool = True
    """Whether it carries :data:`~controller.core.world.MANAGED_BY_LABEL` afterwards
    (watched while a Rollout manages it or hands it back)."""


@dataclass(frozen=True, kw_only=True)
class SetCanaryWeight:
    """Route ``weight`` percent of traffic to the canary, the rest to the stable.

    The I/O layer's router named ``router`` sets the routes and reads them back;
    the weight counts as reached (the status written) only once they verify. A
    router also points the stable and canary Services at those revisions (the
    canary Service at the stable when there is no canary) and keeps exactly
    ``header_routes`` of its own header routes.
    """

    weight: int
    canary: Revision | None
    stable: Revision
    router: str = REPLICA_RATIO
    header_routes: tuple[SetHeaderRoute, ...] = ()
    reached: bool = False
    """The status already records these routes as reached: any change the router has
    to make is a repair of someone else's edit (drift), reported as an Event."""


@dataclass(frozen=True, kw_only=True)
class RemoveManagedRoutes:
    """Undo every route change ``router`` made for the Rollout (it is being deleted)."""

    stable: Revision | None
    router: str = REPLICA_RATIO


@dataclass(frozen=True, kw_only=True)
class SwitchFlagOff:
    """Switch the feature flag ``flag`` off (its provider records what it was)."""

    flag: FeatureFlag
    reason: str


@dataclass(frozen=True, kw_only=True)
class RestoreFlag:
    """Put the feature flag ``flag`` back as it was before it was switched off.

    ``previous`` is what the provider reported when it switched the flag off, as
    recorded in the status; a provider that keeps its own record (OpenFeature's
    annotation, reference counted across Rollouts) goes by that one.
    """

    flag: FeatureFlag
    previous: str


FlagAction = SwitchFlagOff | RestoreFlag

Action = (
    EnsureFinalizer
    | RemoveFinalizer
    | EnsureReplicaSet
    | DeleteReplicaSet
    | UpdateDeployment
    | SetCanaryWeight
    | RemoveManagedRoutes
    | SwitchFlagOff
    | RestoreFlag
)


@dataclass(frozen=True, kw_only=True)
class FlagResult:
    """What a flag provider answered to one :data:`FlagAction`, reported back to the core.

    ``error`` empty: the provider confirmed ``state``. A provider that did not answer
    in time is an error too.
    """

    flag: str
    """The flag's handle."""
    state: FlagState
    """The state the action asked for."""
    error: str = ""
    previous: str = ""
    """Switched off: what the flag was before (empty: the provider keeps no record)."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """A Kubernetes Event to record on the Rollout (on transitions only)."""

    type: EventType
    reason: EventReason | HistoryAction
    message: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One reconcile's outcome: ordered actions, new status, events, when to look again."""

    status: RolloutStatus
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    """Seconds until time alone changes the decision (a pause ends, a deadline passes)."""
    notes: tuple[str, ...] = field(default=())
    """Diagnostics for the log (e.g. unreadable request annotations)."""
