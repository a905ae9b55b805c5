"""Pure: the soak's invariants and outcomes, from every stored version of each Rollout.

Inputs are what the soak observed, nothing it was told: each Rollout's versions
in etcd's commit order (``Version``), the wall-clock times requests were sent to
each revision, and the windows in which the API server was down. ``judge``
returns the outcome of each release and every invariant broken:

- a canary that failed from its first request (``errors``, ``latency``) is never promoted;
- once an abort of revision R is stored (a rollback: once it is complete, as the
  previous revision must serve first), no request is sent to R later than
  ``settle`` seconds after it, plus any API server downtime in between and
  ``RECOVERY`` seconds after each (pods cannot leave the endpoints while it is
  away, and the controller manager catches up after it). Given the ReplicaSets'
  timeline (:mod:`e2e.bench.soak.timeline`), the time is split between who
  spends it: the controller must want the previous revision in full and, once
  that serves in full (make before break), R at zero, each within ``settle``;
  the last request to R must come within ``settle`` of its last Ready pod
  leaving. The cluster's part (the controller manager creating and deleting
  pods, kwok) is a figure, not a verdict: a CI run once saw requests reach
  aborted revisions for 45 s after their aborts, without this record of whose
  seconds they were;
- the steps go forward only, each starts once (one ``stepStartedAt``), a timed
  pause is never cut short nor skipped, and the canary's weight never exceeds
  its step's;
- every Rollout ends ``Healthy`` on the new revision (healthy release) or
  ``Degraded`` on its previous one with the right reason (``AnalysisFailed``;
  for a late regression also ``GuardFailed``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from e2e.bench.soak.plan import Kind
from e2e.bench.soak.timeline import Point

__all__ = [
    "RECOVERY",
    "Outcome",
    "Report",
    "Version",
    "judge",
    "overlapping_writers",
    "parse_duration",
]

RECOVERY = 20.0
"""Seconds after an API server restart that the controller manager needs to catch up
(it relists, then deletes pods and updates ReplicaSet status): measured on the
local cluster, where the canary's pods left 9 s after a stored abort that followed
a restart by 4 s."""


@dataclass(frozen=True, kw_only=True)
class Version:
    """One stored version of a Rollout."""

    name: str
    revision: int
    """etcd's mod revision: the object's resourceVersion."""
    seen: float
    """Wall-clock time (``time.time()``) it was seen."""
    obj: dict[str, Any] | None
    """The stored object; None for a delete."""

    @property
    def status(self) -> dict[str, Any]:
        return dict((self.obj or {}).get("status") or {})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    rollout: str
    kind: Kind
    result: str
    """``promoted``, ``aborted`` (by the analysis), ``rolled-back`` (by the guard) or
    ``unsettled``."""
    right: bool
    detail: str
    release_to_decision: float | None = None
    """Seconds from the stored ``ReleaseStarted`` to the stored promotion guard end,
    abort or rollback."""
    last_request_after_abort: float | None = None
    """Seconds from the stored abort (or rollback) to the last request sent to the revision."""
    cluster_took: float | None = None
    """Of the time after the stored abort, seconds the cluster spent: the previous
    revision's pods becoming Ready, then the aborted one's leaving."""


@dataclass(kw_only=True)
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def count(self, *, right: bool, bad: bool) -> int:
        return sum(1 for o in self.outcomes if o.right is right and o.kind.bad is bad)

    @property
    def wrong(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.right]


def parse_duration(text: str) -> float:
    """``"10s"``, ``"2m"``, ``"1h"`` → seconds (the steps' spelling)."""
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def _history(status: Mapping[str, Any], action: str, revision: str) -> dict[str, Any] | None:
    return next(
        (
            dict(h)
            for h in status.get("history") or []
            if h.get("action") == action and h.get("revision") == revision
        ),
        None,
    )


def _first(versions: Sequence[Version], action: str, revision: str) -> Version | None:
    return next((v for v in versions if _history(v.status, action, revision)), None)


def _downtime(
    windows: Sequence[tuple[float, float]], start: float, end: float, recovery: float
) -> float:
    """Seconds of the windows, each followed by ``recovery``, that overlap [start, end]."""
    return sum(max(0.0, min(b + recovery, end) - max(a, start)) for a, b in windows)


def _held_from(
    points: Sequence[Point], holds: Callable[[int, int], bool], since: float
) -> float | None:
    """The time from which ``holds(wanted, ready)`` is true to the end of ``points``
    (``since`` if it already was then), or None if it is not at the end."""
    start = None
    for at, wanted, ready in points:
        start = (start if start is not None else at) if holds(wanted, ready) else None
    return None if start is None else max(start, since)


def _taken_out_in_time(
    name: str,
    *,
    stored: float,
    later: Sequence[float],
    canary: str,
    previous: str | None,
    replicas: Mapping[str, Sequence[Point]],
    full: int,
    api_down: Sequence[tuple[float, float]],
    settle: float,
) -> tuple[float | None, list[str]]:
    """Split the time after the abort of ``canary`` was stored between the controller
    and the cluster; the cluster's seconds and the controller's broken promises."""
    mine, prior = replicas.get(canary, ()), replicas.get(previous or "", ())
    wanted_back = _held_from(prior, lambda wanted, _: wanted >= full, stored)
    serving = _held_from(prior, lambda _, ready: ready >= full, stored)
    scaled = _held_from(mine, lambda wanted, _: wanted == 0, stored)
    gone = _held_from(mine, lambda _, ready: ready == 0, stored)
    problems: list[str] = []

    def late(what: str, start: float, end: float | None) -> None:
        if end is None:
            problems.append(f"{name}: after its abort was stored, {what} never")
            return
        allowed = settle + _downtime(api_down, start, end, RECOVERY)
        if end - start > allowed:
            problems.append(f"{name}: {what} {end - start:.2f}s after (allowed {allowed:.2f}s)")

    late(f"the controller wanted {previous} in full", stored, wanted_back)
    if serving is None:
        problems.append(f"{name}: after its abort was stored, {previous} never served in full")
        return None, problems
    late(f"the controller scaled {canary} to zero once {previous} served", serving, scaled)
    if gone is None:
        problems.append(f"{name}: after its abort was stored, {canary} kept Ready pods")
        return None, problems
    if later:
        late(f"requests went to {canary} once its pods left: the last", gone, later[-1])
    return (serving - stored) + max(0.0, gone - max(scaled or gone, serving)), problems


def _taken_out(versions: Sequence[Version], revision: str) -> Version | None:
    """The first version recording that ``revision`` was aborted, or rolled back and no
    longer served (a rollback keeps it until the previous revision serves again)."""
    for version in versions:
        status = version.status
        if _history(status, "Aborted", revision):
            return version
        if _history(status, "RolledBack", revision) and not status.get("rollingBackTo"):
            return version
    return None


def _check_steps(
    name: str, versions: Sequence[Version], canary: str, steps: Sequence[Mapping[str, Any]]
) -> list[str]:
    problems: list[str] = []
    starts: dict[int, set[str]] = {}
    last_index = -1
    for version in versions:
        status = version.status
        index = status.get("currentStepIndex")
        if status.get("canaryRevision") != canary or index is None:
            continue
        if index < last_index:
            problems.append(f"{name}: step {index} after step {last_index} (went back)")
        if index > last_index + 1:
            for skipped in range(last_index + 1, index):
                if "pause" in steps[skipped]:
                    problems.append(f"{name}: step {skipped} (a pause) was never stored")
        last_index = max(last_index, index)
        if started := status.get("stepStartedAt"):
            starts.setdefault(index, set()).add(started)
        weights = [s["setWeight"] for s in steps[: index + 1] if "setWeight" in s]
        allowed = 100 if index >= len(steps) else (weights[-1] if weights else 0)
        if (status.get("canaryWeight") or 0) > allowed:
            problems.append(
                f"{name}: canary weight {status.get('canaryWeight')} at step {index} "
                f"(its share is {allowed})"
            )
    for index, seen in sorted(starts.items()):
        if len(seen) > 1:
            problems.append(f"{name}: step {index} started {len(seen)} times: {sorted(seen)}")
    for index, step in enumerate(steps):
        duration = (step.get("pause") or {}).get("duration")
        if not duration or index not in starts or index + 1 not in starts:
            continue
        began = datetime.fromisoformat(min(starts[index]))
        ended = datetime.fromisoformat(min(starts[index + 1]))
        held = (ended - began).total_seconds()
        if held < parse_duration(duration):
            problems.append(f"{name}: pause {index} ({duration}) held only {held:.1f}s")
    return problems


def _reason(status: Mapping[str, Any], action: str, revision: str) -> str:
    entry = _history(status, action, revision) or {}
    return str(entry.get("reason") or "")


def _judge_one(
    *,
    name: str,
    kind: Kind,
    versions: Sequence[Version],
    steps: Sequence[Mapping[str, Any]],
    sent: Mapping[str, Sequence[float]],
    api_down: Sequence[tuple[float, float]],
    settle: float,
    replicas: Mapping[str, Sequence[Point]] | None,
    full: int,
) -> tuple[Outcome, list[str]]:
    started = next(
        (v for v in versions if any(h.get("action") == "ReleaseStarted"
                                    for h in v.status.get("history") or [])),
        None,
    )  # fmt: skip
    if started is None:
        return Outcome(
            rollout=name, kind=kind, result="unsettled", right=False, detail="never released"
        ), []
    entry = next(h for h in started.status["history"] if h["action"] == "ReleaseStarted")
    canary, previous = str(entry["revision"]), started.status.get("stableRevision")
    problems = _check_steps(name, versions, canary, steps)
    promoted = _first(versions, "Promoted", canary)
    if promoted is not None and kind in (Kind.ERRORS, Kind.LATENCY):
        problems.append(f"{name}: a canary failing from its first request ({kind}) was promoted")
    ended = _taken_out(versions, canary)
    last_after = cluster_took = None
    if ended is not None:
        times = sent.get(canary) or ()
        later = times[bisect.bisect_right(times, ended.seen) :]
        if later:
            last_after = later[-1] - ended.seen
        if later and replicas is None:
            allowed = settle + _downtime(api_down, ended.seen, later[-1], RECOVERY)
            if last_after is not None and last_after > allowed:
                problems.append(
                    f"{name}: {len(later)} request(s) sent to {canary} after its abort was "
                    f"stored, the last {last_after:.2f}s after (allowed {allowed:.2f}s)"
                )
        elif replicas is not None:
            cluster_took, found = _taken_out_in_time(
                name, stored=ended.seen, later=later, canary=canary, previous=previous,
                replicas=replicas, full=full, api_down=api_down, settle=settle,
            )  # fmt: skip
            problems += found
    final = versions[-1].status
    phase, stable = final.get("phase"), final.get("stableRevision")
    aborted_reason = _reason(final, "Aborted", canary)
    rolled_reason = _reason(final, "RolledBack", canary)
    decided = ended or promoted
    took = decided.seen - started.seen if decided is not None else None
    if phase == "Healthy" and stable == canary:
        result, right = "promoted", not kind.bad
        detail = "promoted and guarded"
    elif phase == "Degraded" and stable == previous and final.get("blockedRevision") == canary:
        result = "rolled-back" if rolled_reason else "aborted"
        reason = rolled_reason or aborted_reason
        want = ("AnalysisFailed", "GuardFailed") if kind is Kind.LATE else ("AnalysisFailed",)
        right = kind.bad and reason.startswith(want)
        detail = reason
    else:
        result, right = "unsettled", False
        detail = f"ended {phase}: {final.get('message', '')}"
    outcome = Outcome(
        rollout=name,
        kind=kind,
        result=result,
        right=right,
        detail=detail,
        release_to_decision=took,
        last_request_after_abort=last_after,
        cluster_took=cluster_took,
    )
    return outcome, problems


def judge(
    *,
    kinds: Mapping[str, Kind],
    versions: Sequence[Version],
    steps: Sequence[Mapping[str, Any]],
    sent: Mapping[str, Sequence[float]],
    api_down: Sequence[tuple[float, float]],
    settle: float,
    replicas: Mapping[str, Sequence[Point]] | None = None,
    full: int = 0,
) -> Report:
    """The outcome of each release in ``kinds`` and every invariant broken.

    ``sent`` maps a revision to the sorted times requests were sent to it;
    ``replicas`` each revision's :class:`~e2e.bench.soak.timeline.ReplicaTimeline`
    points, ``full`` the replicas a Rollout runs with.
    """
    report = Report()
    by_name: dict[str, list[Version]] = {}
    for version in versions:
        if version.obj is not None:
            by_name.setdefault(version.name, []).append(version)
    for name, kind in sorted(kinds.items()):
        mine = by_name.get(name)
        if not mine:
            report.outcomes.append(
                Outcome(rollout=name, kind=kind, result="unsettled", right=False, detail="absent")
            )
            continue
        outcome, problems = _judge_one(
            name=name,
            kind=kind,
            versions=mine,
            steps=steps,
            sent=sent,
            api_down=api_down,
            settle=settle,
            replicas=replicas,
            full=full,
        )
        report.outcomes.append(outcome)
        report.violations += problems
    return report


def overlapping_writers(writes: Sequence[tuple[float, str]], *, lease: float) -> list[str]:
    """Writes by one controller while another one led (split brain).

    ``writes`` are (time, identity) of every write the controllers made. A
    controller that wrote at t1 and again at t2 < t1 + ``lease`` held the lease
    in between (to lose it and lead again, the lease must expire first), so no
    other identity may write between t1 and t2. A pod restarted in place keeps
    its identity: its old process is dead."""
    times: dict[str, list[float]] = {}
    for at, who in sorted(writes):
        times.setdefault(who, []).append(at)
    problems: list[str] = []
    for at, who in sorted(writes):
        for other, seen in times.items():
            if other == who:
                continue
            i = bisect.bisect_left(seen, at)
            if 0 < i < len(seen) and seen[i] - seen[i - 1] < lease:
                problems.append(
                    f"{who} wrote at {at:.3f} while {other} led "
                    f"(it wrote at {seen[i - 1]:.3f} and {seen[i]:.3f})"
                )
    return problems
