"""What ``watch`` knows and draws: the Rollout, its ReplicaSets and recent Events.

:class:`WatchState` folds updates from the three watches; :func:`frame` renders
it; :func:`outcome` says whether ``--until-done`` may stop. All pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from controller.cli.flags import flags_table, pending_banner
from controller.cli.render import analysis_rows, analysis_title, describe_step, step_progress
from controller.cli.text import age, parse_time, table
from controller.core.revisions import REVISION_LABEL
from controller.kube.objects import KubeObject

__all__ = ["DEGRADED_EXIT", "RECENT_EVENTS", "Update", "WatchState", "frame", "outcome"]

RECENT_EVENTS = 8
_KEPT_EVENTS = 200

Feed = Literal["rollout", "replicasets", "events"]
UpdateKind = Literal["SYNC", "ADDED", "MODIFIED", "DELETED", "FAILED"]


@dataclass(frozen=True, kw_only=True)
class Update:
    """One thing a watch saw: a full list (``SYNC``), one change, or its failure."""

    feed: Feed
    kind: UpdateKind
    objects: tuple[KubeObject, ...] = ()
    message: str = ""


def _name(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _event_time(event: KubeObject) -> datetime | None:
    series = event.get("series") or {}
    for value in (
        event.get("lastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        if (parsed := parse_time(value)) is not None:
            return parsed
    return None


@dataclass(kw_only=True)
class WatchState:
    """The latest of everything the watches reported."""

    name: str
    rollout: KubeObject | None = None
    deleted: bool = False
    replica_sets: dict[str, KubeObject] = field(default_factory=dict)
    events: dict[str, KubeObject] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def apply(self, update: Update) -> None:
        if update.kind == "FAILED":
            self.problems[update.feed] = update.message
            return
        self.problems.pop(update.feed, None)
        if update.feed == "rollout":
            self._apply_rollout(update)
            return
        store = self.replica_sets if update.feed == "replicasets" else self.events
        if update.kind == "SYNC":
            store.clear()
        for obj in update.objects:
            key = str((obj.get("metadata") or {}).get("uid") or _name(obj))
            if update.kind == "DELETED":
                store.pop(key, None)
            elif update.feed == "replicasets" or self._may_concern_us(obj):
                store[key] = obj
        if len(self.events) > _KEPT_EVENTS:
            newest = sorted(self.events.items(), key=lambda kv: _sort_time(kv[1]))
            self.events = dict(newest[-_KEPT_EVENTS:])

    def _apply_rollout(self, update: Update) -> None:
        ours = [o for o in update.objects if _name(o) == self.name]
        if update.kind == "DELETED" or (update.kind == "SYNC" and not ours):
            self.deleted = True
        elif ours:
            self.rollout = ours[-1]
            self.deleted = False

    def _may_concern_us(self, event: KubeObject) -> bool:
        involved = event.get("involvedObject") or {}
        name = str(involved.get("name") or "")
        if involved.get("kind") == "Rollout":
            return name == self.name
        return involved.get("kind") == "ReplicaSet" and name.startswith(f"{self.name}-")

    def recent_events(self) -> list[KubeObject]:
        """Events about the Rollout or its current ReplicaSets, newest last."""
        ours = {_name(rs) for rs in self.replica_sets.values()}
        relevant = [
            e
            for e in self.events.values()
            if (e.get("involvedObject") or {}).get("kind") == "Rollout"
            or (e.get("involvedObject") or {}).get("name") in ours
        ]
        return sorted(relevant, key=_sort_time)[-RECENT_EVENTS:]


def _sort_time(event: KubeObject) -> str:
    parsed = _event_time(event)
    return parsed.isoformat() if parsed else ""


DEGRADED_EXIT = 3
"""``watch --until-done``'s exit code once the Rollout is Degraded (aborted or rolled
back): apart from 1 (an API error, a deleted Rollout, the timeout) and 2 (a usage error)."""


def outcome(rollout: KubeObject) -> int | None:
    """``--until-done``'s exit code: 0 Healthy/Completed, :data:`DEGRADED_EXIT` when
    Degraded, None to keep waiting.

    A status older than the spec (``observedGeneration`` behind) does not count.
    """
    status = rollout.get("status") or {}
    generation = (rollout.get("metadata") or {}).get("generation") or 0
    if (status.get("observedGeneration") or 0) < generation:
        return None
    if status.get("phase") == "Degraded":
        return DEGRADED_EXIT
    completed = any(
        c.get("type") == "Completed" and c.get("status") == "True"
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )
    if status.get("phase") == "Healthy" or completed:
        return 0
    return None


def _role(revision: str, status: dict[str, object]) -> str:
    roles = (
        ("canaryRevision", "canary"),
        ("stableRevision", "stable"),
        ("blockedRevision", "blocked"),
        ("previousStableRevision", "previous"),
    )
    return next((role for key, role in roles if revision and status.get(key) == revision), "-")


def frame(state: WatchState, now: datetime) -> str:
    """One screenful: where the canary stands, its ReplicaSets, and recent Events."""
    rollout = state.rollout or {}
    meta = rollout.get("metadata") or {}
    status = rollout.get("status") or {}
    spec = rollout.get("spec") or {}
    key = f"{meta.get('namespace', '')}/{state.name}"
    phase = "Deleted" if state.deleted else status.get("phase") or "Unknown"
    lines = [f"Rollout {key}: {phase}" + ("  (paused)" if spec.get("paused") else "")]
    if status.get("message"):
        lines.append(f"  {status['message']}")
    progress = step_progress(rollout)
    index = status.get("currentStepIndex")
    steps = ((spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
    if progress != "-" and isinstance(index, int) and index < len(steps):
        progress += f" ({describe_step(steps[index])})"
    weight = int(status.get("canaryWeight") or 0)
    lines.append(f"Step: {progress}   Weight: canary {weight}% / stable {100 - weight}%")
    lines.append(
        f"Pods ready: stable {status.get('stableReadyReplicas') or 0}, "
        f"canary {status.get('canaryReadyReplicas') or 0}, desired {status.get('replicas') or 0}"
    )
    lines.append("ReplicaSets:")
    rows = []
    for rs in sorted(state.replica_sets.values(), key=_name):
        revision = str(((rs.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))
        rs_status = rs.get("status") or {}
        rows.append(
            (
                _name(rs),
                _role(revision, status),
                str((rs.get("spec") or {}).get("replicas") or 0),
                str(rs_status.get("readyReplicas") or 0),
                str(rs_status.get("availableReplicas") or 0),
            )
        )
    header = ("NAME", "ROLE", "DESIRED", "READY", "AVAILABLE")
    lines.append(table(header, rows, indent="  ") if rows else "  <none>")
    if isinstance(status.get("analysis"), dict):
        lines += [analysis_title(status["analysis"]), analysis_rows(status["analysis"], now)]
    if spec.get("featureFlags"):
        lines.append("Feature flags:")
        lines += [f"  {line}" for line in flags_table(rollout, now).splitlines()]
        if banner := pending_banner(rollout):
            lines.append(f"  {banner}")
    lines.append("Recent events:")
    event_rows = [
        (
            age(_event_time(e), now),
            str(e.get("type") or ""),
            str(e.get("reason") or ""),
            f"{(e.get('involvedObject') or {}).get('kind', '')}/"
            f"{(e.get('involvedObject') or {}).get('name', '')}",
            str(e.get("message") or e.get("note") or "").replace("\n", " "),
        )
        for e in state.recent_events()
    ]
    header = ("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")
    lines.append(table(header, event_rows, indent="  ") if event_rows else "  <none>")
    lines += [f"({feed} watch: {problem})" for feed, problem in sorted(state.problems.items())]
    return "\n".join(lines)
