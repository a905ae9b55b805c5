"""One reconcile of one Rollout: read the caches, decide, act, write status once.

Returns a :class:`Result` — done, look again after a time, or retry with backoff
— and nothing else. Reconciles are level-triggered: the key is all that comes
in; the world is read afresh from the informers' caches every time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pydantic
import structlog
from kubernetes.client.exceptions import ApiException

from controller import failpoints
from controller.api.analysis import AnalysisStatus
from controller.api.reasons import EventReason, EventType
from controller.api.v1alpha1 import Rollout, RolloutStatus, status_to_object
from controller.core import flags
from controller.core.actions import Decision, Event
from controller.core.decide import decide
from controller.core.pacing import status_write_due
from controller.core.revisions import Revision
from controller.core.world import World
from controller.kube.errors import describe
from controller.kube.objects import ObjectKey, resource_version_of
from controller.reconcile import observe
from controller.reconcile.actuator import (
    Actuator,
    Conflict,
    ForeignObject,
    Target,
    TrafficNotVerified,
)
from controller.reconcile.events import EventRecorder
from controller.reconcile.measuring import Collected, Measurer

log = structlog.get_logger("landinggear.reconcile")


@dataclass(frozen=True, kw_only=True)
class Result:
    """What the work queue does with the key next."""

    requeue_after: float | None = None
    """Look again after this many seconds (a pause ends, a deadline passes)."""
    retry: bool = False
    """Requeue with per-key exponential backoff (an error, a conflict)."""


class Cache(Protocol):
    """The read side of an informer."""

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def by_index(self, index: str, value: str) -> list[dict[str, Any]]: ...


STALE_RETRY_SECONDS = 1.0

PENDING_RECHECK_SECONDS = 1.0
"""While a look is in flight, a Rollout due again sooner (some other timer than
the next look, which the core leaves to the look's end) is looked at after this."""

TRAFFIC_RECHECK_SECONDS = 1.0
"""A router that has not shifted traffic yet is asked again after this long."""


class _StaleCache(Exception):
    """The cache still holds a version our own write replaced."""


STALE_WRITES_FOR = timedelta(seconds=10)
"""How long a reconcile's writes to the Deployment and ReplicaSets are waited for in
the caches; then they are decided on as they are (say, our new ReplicaSet deleted)."""


@dataclass(frozen=True, kw_only=True)
class _Written:
    """What one reconcile wrote besides the Rollout: until the caches show it, a
    reconcile would decide on the old objects and write the same again."""

    replaced: frozenset[str]
    """resourceVersions of the Deployment and ReplicaSets its writes replaced."""
    created: frozenset[str]
    """Names of the ReplicaSets it created."""
    at: datetime

    @staticmethod
    def versions(target: Target) -> dict[str, str]:
        objs = {f"rs/{name}": rs for name, rs in target.replica_sets.items()}
        if target.deployment is not None:
            objs["deployment"] = target.deployment
        return {k: resource_version_of(o) for k, o in objs.items()}

    @classmethod
    def since(cls, seen: dict[str, str], target: Target, *, at: datetime) -> _Written:
        now = cls.versions(target)
        return cls(
            replaced=frozenset(v for k, v in seen.items() if now.get(k) not in (None, v)),
            created=frozenset(k[3:] for k in now.keys() - seen.keys() if k.startswith("rs/")),
            at=at,
        )

    def lags(
        self, deployment: dict[str, Any] | None, owned: list[dict[str, Any]], *, now: datetime
    ) -> bool:
        """Whether the cached objects are older than these writes (for a while at most)."""
        if now - self.at > STALE_WRITES_FOR:
            return False
        cached = [*owned, *([deployment] if deployment is not None else [])]
        names = {str(rs["metadata"].get("name")) for rs in owned}
        return bool(
            {resource_version_of(o) for o in cached} & self.replaced or self.created - names
        )


OWNER_INDEX = "owner"
"""Index of the ReplicaSet informer: controller owner UID."""


@dataclass
class Observation:
    """What the last reconcile of a key saw and did; read by the metrics."""

    phase: str
    weight: int
    step: int | None


class Reconciler:
    """Turns a Rollout key into API writes, using the pure core for every decision."""

    def __init__(
        self,
        *,
        rollouts: Cache,
        deployments: Cache,
        replica_sets: Cache,
        actuator: Actuator,
        events: EventRecorder,
        clock: Callable[[], datetime],
        measurer: Measurer | None = None,
    ) -> None:
        self.measurer = measurer
        self.rollouts = rollouts
        self.deployments = deployments
        self.replica_sets = replica_sets
        self.actuator = actuator
        self.events = events
        self.clock = clock
        self._superseded: dict[ObjectKey, set[str]] = {}
        """Per key, versions of the Rollout our own writes replaced: stale if cached."""
        self._written: dict[ObjectKey, _Written] = {}
        """Per key, what the last reconcile wrote to its Deployment and ReplicaSets."""
        self._status_written_at: dict[ObjectKey, datetime] = {}
        """Per key, when this process last wrote its status (progress writes are paced)."""
        self._unwritten: dict[ObjectKey, tuple[bytes, AnalysisStatus | None]] = {}
        """Per key, the analysis of a status put off (:mod:`controller.core.pacing`) and a
        digest of the stored status it was decided over: decided from while the stored
        one is that. (Ready counts put off are read from the world again.)"""
        self.observed: dict[ObjectKey, Observation] = {}

    def reconcile(self, key: ObjectKey) -> Result:
        bound = log.bind(
            namespace=key.namespace, rollout=key.name, reconcile_id=uuid.uuid4().hex[:12]
        )
        try:
            loaded = self._load(key, bound)
            if loaded is None:
                return Result()
            obj, stored = loaded
            rollout = self._with_unwritten(key, obj, stored)
            target, world = self._observe(key, obj, rollout)
        except _StaleCache:
            return Result(requeue_after=STALE_RETRY_SECONDS)
        except ApiException as err:
            return _failed(err, rollout, bound)
        now = self.clock()
        looked = self.measurer.collect(key, rollout, now) if self.measurer else Collected()
        measurements = looked.measurements
        decision = decide(rollout, world, now, measurements, looking=looked.pending)
        if measurements is not None:
            bound.debug("Measured", results=[vars(r) for r in measurements.results])
        for note in decision.notes:
            bound.warning(note)
        try:
            decision, deferred = self._act(key, target, decision, now, stored.status)
        except TrafficNotVerified as err:
            # Nothing after the route change was applied and no status written: the
            # weight is not recorded as reached, nothing that lost traffic scaled down.
            bound.info("Waiting for traffic to shift", reason=str(err))
            return Result(requeue_after=TRAFFIC_RECHECK_SECONDS)
        except (Conflict, ForeignObject, ApiException) as err:
            return _failed(err, rollout, bound)
        if target.repairs:
            repaired = "; ".join(target.repairs)
            bound.warning("Repaired routes edited by someone else", changes=target.repairs)
            decision = dataclasses.replace(
                decision,
                events=(
                    *decision.events,
                    Event(
                        type=EventType.WARNING,
                        reason=EventReason.TRAFFIC_REPAIRED,
                        message=f"Routes put back as the release has them: {repaired}",
                    ),
                ),
            )
        for event in decision.events:
            self.events.record(target.obj, event)
        if decision.actions or decision.events:
            bound.info(
                "Reconciled",
                phase=decision.status.phase.value,
                step=decision.status.current_step_index,
                weight=decision.status.canary_weight,
                actions=[type(a).__name__ for a in decision.actions],
                requeue_after=decision.requeue_after,
            )
        self.observed[key] = Observation(
            phase=decision.status.phase.value,
            weight=decision.status.canary_weight,
            step=decision.status.current_step_index,
        )
        requeue_after = decision.requeue_after
        if deferred is not None:
            requeue_after = min(requeue_after or deferred, deferred)
        if looked.pending and requeue_after is not None:
            # The look in flight queues the key when it ends; until then, no busy loop.
            requeue_after = max(requeue_after, PENDING_RECHECK_SECONDS)
        return Result(requeue_after=requeue_after)

    def _observe(
        self, key: ObjectKey, obj: dict[str, Any], rollout: Rollout
    ) -> tuple[Target, World]:
        """The Rollout's Deployment and ReplicaSets, and whether its routes are usable;
        API errors (a Deployment read by name, a router's check) propagate, and
        :class:`_StaleCache` if the caches do not hold our last writes yet."""
        name = rollout.spec.workload_ref.name
        deployment = self.deployments.get(obj["metadata"].get("namespace") or "", name)
        owned = self.replica_sets.by_index(OWNER_INDEX, rollout.uid)
        written = self._written.get(key)
        if written is not None and written.lags(deployment, owned, now=self.clock()):
            # Deciding now would write again what our last reconcile wrote; the
            # objects' watch events requeue the key.
            raise _StaleCache
        world = observe.world(deployment=deployment, replica_sets=owned, rollout_uid=rollout.uid)
        target = Target(
            obj=obj,
            deployment=deployment,
            replica_sets={rs["metadata"]["name"]: rs for rs in owned},
        )
        if rollout.deletion_timestamp is None and deployment is not None:
            stable = rollout.status.stable_revision
            problem = self.actuator.routing_problem(target, Revision(stable or ""))
            world = dataclasses.replace(world, routing_problem=problem)
        return target, world

    def _load(
        self, key: ObjectKey, bound: structlog.typing.FilteringBoundLogger
    ) -> tuple[dict[str, Any], Rollout] | None:
        """The cached Rollout, unless it is gone, stale after our own write, or invalid."""
        obj = self.rollouts.get(key.namespace or "", key.name)
        if obj is None:
            self._superseded.pop(key, None)
            self._written.pop(key, None)
            self._status_written_at.pop(key, None)
            self._unwritten.pop(key, None)
            self.observed.pop(key, None)
            if self.measurer is not None:
                self.measurer.forget(key)
            return None
        version = obj["metadata"].get("resourceVersion", "")
        if version in self._superseded.get(key, ()):
            # Our own write is not in the cache yet: deciding now would replay a step
            # from stale state. The watch event of that write requeues the key; the
            # timed retry is a safety net should that event be lost.
            bound.debug("Skipped stale cache", cached=version)
            raise _StaleCache
        try:
            return obj, Rollout.from_object(obj)
        except pydantic.ValidationError as err:
            bound.error("Rejected invalid Rollout", error=str(err))
            return None

    def _with_unwritten(self, key: ObjectKey, obj: dict[str, Any], rollout: Rollout) -> Rollout:
        """``rollout`` with the analysis this process put off, if it was decided over the
        stored status: looks folded in are not looked again, nor forgotten."""
        held = self._unwritten.get(key)
        if held is None:
            return rollout
        base, analysis = held
        if base != _digest(canonical_status(obj.get("status") or {})):
            del self._unwritten[key]
            return rollout
        status = rollout.status.model_copy(update={"analysis": analysis})
        return rollout.model_copy(update={"status": status})

    def _act(
        self,
        key: ObjectKey,
        target: Target,
        decision: Decision,
        now: datetime,
        stored: RolloutStatus,
    ) -> tuple[Decision, float | None]:
        """Apply the actions, fold the flag providers' answers in, then write the status
        once if it changed; the decision as written, and in how many seconds a status
        write put off (progress alone, see :mod:`controller.core.pacing`) is due."""
        decided_on = target.obj["metadata"]["resourceVersion"]
        seen = _Written.versions(target)
        try:
            answers = self.actuator.apply(target, decision.actions)
        finally:
            self._written[key] = _Written.since(seen, target, at=now)
        # A provider's answer is confirmed when it came, not when the decision was made.
        decision = flags.confirm(decision, answers, now=self.clock() if answers else now)
        if decision.actions:
            failpoints.hit(failpoints.CRASH_BEFORE_STATUS_WRITE)
        new_status = status_to_object(decision.status)
        base = canonical_status(target.obj.get("status") or {})
        if canonical_status(new_status) != base:
            if not (decision.actions or decision.events or answers):
                due = status_write_due(
                    stored,
                    decision.status,
                    last_written=self._status_written_at.get(key),
                    now=now,
                )
                if due > now:
                    if decision.status.analysis != stored.analysis:
                        self._unwritten[key] = (_digest(base), decision.status.analysis)
                    return decision, (due - now).total_seconds()
            before = target.obj["metadata"]["resourceVersion"]
            written = self.actuator.write_status(target, new_status)
            self._status_written_at[key] = now
            self._unwritten.pop(key, None)
            version = written["metadata"]["resourceVersion"]
            self._superseded[key] = {decided_on, before} - {version}
            log.debug("Wrote status", rollout=key.name, version=version)
        else:
            self._unwritten.pop(key, None)
            if target.obj["metadata"]["resourceVersion"] != decided_on:
                self._superseded[key] = {decided_on}
        return decision, None


def _failed(
    err: Exception, rollout: Rollout, bound: structlog.typing.FilteringBoundLogger
) -> Result:
    if isinstance(err, Conflict):
        bound.info("Requeued after conflict", reason=str(err))
    elif isinstance(err, ForeignObject):
        bound.error("Refused to touch a foreign object", error=str(err))
    elif isinstance(err, ApiException) and err.status == 404 and rollout.deletion_timestamp:
        return Result()  # deleted while we acted: nothing left to do
    elif isinstance(err, ApiException):
        bound.error("Failed to apply decision", status=err.status, error=describe(err))
    return Result(retry=True)


def _digest(canonical: str) -> bytes:
    """A stored status, told apart in 16 bytes (a status is kilobytes)."""
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


def canonical_status(status: dict[str, Any]) -> str:
    """Status as compared: the API server stores 1.0 as 1, so integral floats are ints."""
    return json.dumps(_numbers(status), sort_keys=True, separators=(",", ":"))


def _numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value
