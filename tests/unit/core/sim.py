"""An in-memory world for the pure core: a Deployment, ReplicaSets, time.

A fake by design (the core's unit tests need no API server): it applies the
core's actions the way the I/O layer and Kubernetes would — ReplicaSets scale
at once, new pods become available only when a test says so. Flag actions go to
a fake flag provider (:class:`FakeFlagProvider`) whose answers are folded back
in the same reconcile, as the reconciler does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.api.flags import FlagState
from controller.api.v1alpha1 import Rollout, RolloutStatus
from controller.core import flags
from controller.core.actions import (
    Decision,
    DeleteReplicaSet,
    EnsureFinalizer,
    EnsureReplicaSet,
    FlagResult,
    RemoveFinalizer,
    RemoveManagedRoutes,
    RestoreFlag,
    SetCanaryWeight,
    SwitchFlagOff,
    UpdateDeployment,
)
from controller.core.decide import FINALIZER, decide
from controller.core.revisions import Revision, replica_set_name, template_hash
from controller.core.world import (
    DESIRED_REPLICAS_ANNOTATION,
    DeploymentView,
    ReplicaSetView,
    Request,
    Verb,
    World,
    request_annotation,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": image}]},
    }


@dataclass
class FakeReplicaSet:
    name: str
    revision: Revision
    replicas: int
    available: int = 0
    created_at: datetime = T0


@dataclass
class FakeFlagProvider:
    """Plays the flag provider: answers at once, fails the next N calls, or hangs
    (no answer in time, which the I/O layer reports as an error)."""

    states: dict[str, FlagState] = field(default_factory=dict)
    """What the provider holds per flag; absent: never switched (on)."""
    failing: dict[str, int] = field(default_factory=dict)
    """Per flag, how many more calls fail."""
    hanging: set[str] = field(default_factory=set)
    calls: list[tuple[str, FlagState]] = field(default_factory=list)

    def answer(self, action: SwitchFlagOff | RestoreFlag) -> FlagResult:
        name = action.flag.name
        state = FlagState.OFF if isinstance(action, SwitchFlagOff) else FlagState.RESTORED
        self.calls.append((name, state))
        if name in self.hanging:
            return FlagResult(flag=name, state=state, error="no answer within 10s")
        if self.failing.get(name, 0) > 0:
            self.failing[name] -= 1
            return FlagResult(flag=name, state=state, error="connection refused")
        self.states[name] = state
        previous = '{"defaultVariant": "on"}' if state is FlagState.OFF else ""
        return FlagResult(flag=name, state=state, previous=previous)


@dataclass
class Sim:
    steps: list[dict[str, Any]]
    replicas: int = 3
    image: str = "web:v1"
    now: datetime = T0
    deployment_replicas: int = 3
    deployment_paused: bool = False
    deployment_annotations: dict[str, str] = field(default_factory=dict)
    deployment_available: int = 3
    deployment_labelled: bool = False
    replica_sets: dict[Revision, FakeReplicaSet] = field(default_factory=dict)
    status: RolloutStatus = field(default_factory=RolloutStatus)
    annotations: dict[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    paused: bool = False
    progress_deadline: int = 600
    weights: list[int] = field(default_factory=list)
    routes_removed: bool = False
    last: Decision | None = None
    feature_flags: list[dict[str, Any]] = field(default_factory=list)
    on_anomaly: str | None = None
    flag_provider: FakeFlagProvider = field(default_factory=FakeFlagProvider)

    def __post_init__(self) -> None:
        self.deployment_replicas = self.replicas
        self.deployment_available = self.replicas

    # ------------------------------------------------------------ views

    @property
    def revision(self) -> Revision:
        return template_hash(template(self.image))

    def rollout(self) -> Rollout:
        return Rollout.model_validate(
            {
                "name": "web",
                "namespace": "shop",
                "generation": 1,
                "finalizers": self.finalizers,
                "annotations": self.annotations,
                "deletionTimestamp": self.now if self.deleting else None,
                "spec": {
                    "workloadRef": {"name": "web"},
                    "strategy": {"canary": {"steps": self.steps, **self.canary_extra()}},
                    "featureFlags": self.feature_flags,
                    "progressDeadlineSeconds": self.progress_deadline,
                    "paused": self.paused,
                },
                "status": self.status,
            }
        )

    def canary_extra(self) -> dict[str, Any]:
        """More fields of ``spec.strategy.canary`` (subclasses add the analysis)."""
        return {"onAnomaly": self.on_anomaly} if self.on_anomaly else {}

    def world(self) -> World:
        deployment = DeploymentView(
            name="web",
            uid="d-1",
            template=template(self.image),
            revision=self.revision,
            replicas=self.deployment_replicas,
            paused=self.deployment_paused,
            annotations=dict(self.deployment_annotations),
            labelled=self.deployment_labelled,
            selector={"matchLabels": {"app": "web"}},
            generation=1,
            observed_generation=1,
            updated_replicas=self.deployment_available,
            available_replicas=self.deployment_available,
        )
        sets = tuple(
            ReplicaSetView(
                name=rs.name,
                revision=rs.revision,
                replicas=rs.replicas,
                ready_replicas=rs.available,
                available_replicas=rs.available,
                created_at=rs.created_at,
            )
            for rs in self.replica_sets.values()
        )
        return World(deployment=deployment, replica_sets=sets)

    def available(self, revision: str | None) -> int:
        rs = self.replica_sets.get(Revision(revision)) if revision else None
        return rs.available if rs else 0

    def rs_replicas(self, revision: str | None) -> int:
        rs = self.replica_sets.get(Revision(revision)) if revision else None
        return rs.replicas if rs else 0

    # ------------------------------------------------------------ events

    def reconcile(self, *, write_status: bool = True) -> Decision:
        return self.carry_out(decide(self.rollout(), self.world(), self.now), write_status)

    def carry_out(self, decision: Decision, write_status: bool) -> Decision:
        """Apply the actions as the reconciler does: the flag provider's answers are
        folded into the status before it is written."""
        answers = []
        for action in decision.actions:
            if isinstance(action, SwitchFlagOff | RestoreFlag):
                answers.append(self.flag_provider.answer(action))
            else:
                self.apply(action)
        decision = flags.confirm(decision, answers, now=self.now)
        if write_status:
            self.status = decision.status
        self.last = decision
        return decision

    def apply(self, action: object) -> None:
        match action:
            case EnsureFinalizer():
                self.finalizers = (*self.finalizers, FINALIZER)
            case RemoveFinalizer():
                self.finalizers = tuple(f for f in self.finalizers if f != FINALIZER)
            case EnsureReplicaSet(revision=rev, template=tpl, replicas=n):
                rs = self.replica_sets.get(rev)
                if rs is None:
                    assert tpl is not None, "asked to scale a ReplicaSet that does not exist"
                    self.replica_sets[rev] = FakeReplicaSet(
                        name=replica_set_name("web", rev),
                        revision=rev,
                        replicas=n,
                        created_at=self.now,
                    )
                else:
                    rs.replicas = n
                    rs.available = min(rs.available, n)
            case DeleteReplicaSet(name=name):
                self.replica_sets = {k: v for k, v in self.replica_sets.items() if v.name != name}
            case UpdateDeployment(
                replicas=n, paused=paused, desired_replicas=desired, labelled=labelled
            ):
                self.deployment_labelled = labelled
                self.deployment_replicas = n
                self.deployment_paused = paused
                self.deployment_available = min(self.deployment_available, n)
                if desired is None:
                    self.deployment_annotations.pop(DESIRED_REPLICAS_ANNOTATION, None)
                else:
                    self.deployment_annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
            case SetCanaryWeight(weight=w):
                self.weights.append(w)
            case RemoveManagedRoutes():
                self.routes_removed = True
            case _:
                raise AssertionError(f"unknown action {action!r}")

    def pods_ready(self, limit: int | None = None) -> None:
        """New pods become available (at most ``limit`` per ReplicaSet)."""
        for rs in self.replica_sets.values():
            missing = rs.replicas - rs.available
            rs.available += missing if limit is None else min(limit, missing)
        if not self.deployment_paused:
            self.deployment_available = self.deployment_replicas

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set_image(self, image: str) -> None:
        self.image = image

    def request(
        self,
        verb: Verb,
        *,
        full: bool = False,
        by: str = "alice",
        keep_flags_off: bool = False,
        flags: tuple[str, ...] = (),
        reason: str = "",
        request_id: str | None = None,
    ) -> None:
        key, value = request_annotation(
            Request(
                verb=verb,
                id=request_id or uuid.uuid4().hex,
                by=by,
                at=self.now,
                full=full,
                keep_flags_off=keep_flags_off,
                flags=flags,
                reason=reason,
            )
        )
        self.annotations[key] = value

    def settle(self, rounds: int = 10) -> None:
        """Reconcile, let pods become Ready, repeat."""
        for _ in range(rounds):
            self.reconcile()
            self.pods_ready()
        self.reconcile()
