"""Pure: what the soak releases and which faults it injects, drawn from a seed.

Each Rollout gets one release of a kind: ``healthy`` (a new env value only),
``errors`` (30 % of answers are 500s from the first request), ``latency``
(every answer 300 ms late, against a 100 ms bound) or ``late`` (healthy for
``LATE_AFTER_SECONDS``, then half the answers fail: the guard's job once
promoted, the analysis' if it shows before the promotion). The fault plan is a
list of timed events: controller kills (a crash, restarted in place as kubelet
restarts a container, or a replaced pod with a new identity), a window with a
second replica, two API server restarts and one Prometheus outage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "LATE_AFTER_SECONDS",
    "Event",
    "FaultKind",
    "Kind",
    "Plan",
    "Release",
    "Shape",
    "make_plan",
]

LATE_AFTER_SECONDS = 30.0
"""A ``late`` revision starts failing this long after its app started (its first pod)."""


class Kind(StrEnum):
    HEALTHY = "healthy"
    ERRORS = "errors"
    LATENCY = "latency"
    LATE = "late"

    @property
    def bad(self) -> bool:
        return self is not Kind.HEALTHY

    def env(self) -> dict[str, str]:
        """The env the release sets on the pod template (the demo app's behaviour)."""
        return {
            Kind.HEALTHY: {"RELEASE": "2"},
            Kind.ERRORS: {"RELEASE": "2", "ERROR_RATE": "0.3"},
            Kind.LATENCY: {"RELEASE": "2", "LATENCY_MS": "300"},
            Kind.LATE: {
                "RELEASE": "2",
                "ERROR_RATE": "0.5",
                "ERRORS_AFTER_SECONDS": f"{LATE_AFTER_SECONDS:g}",
            },
        }[self]


class FaultKind(StrEnum):
    CRASH = "crash"
    """SIGKILL the leader; it restarts in place, same identity (a container restart)."""
    REPLACE = "replace"
    """SIGKILL the leader; a new pod with a new identity replaces it."""
    STANDBY_START = "standby-start"
    STANDBY_STOP = "standby-stop"
    APISERVER_RESTART = "apiserver-restart"
    PROMETHEUS_STOP = "prometheus-stop"
    PROMETHEUS_START = "prometheus-start"


@dataclass(frozen=True, kw_only=True)
class Release:
    rollout: str
    kind: Kind
    at: float
    """Seconds after the start of the soak."""


@dataclass(frozen=True, kw_only=True, order=True)
class Event:
    at: float
    kind: FaultKind


@dataclass(frozen=True, kw_only=True)
class Shape:
    """The soak's size and pace; ``quick`` and ``full`` are the two used."""

    rollouts: int
    rps_per_rollout: float
    release_spread: float
    """Releases start evenly over this many seconds."""
    faults_for: float
    """Controller kills go on this long; every other fault happens within it."""
    settle_timeout: float
    """After the faults, how long every Rollout has to settle."""
    traffic_settle: float
    """Seconds after a stored abort within which requests must have left the revision:
    the data plane's poll (0.2 s), the controller manager deleting pods, kwok and the
    drain of requests in flight. Measured on this 2-core machine: p50 about 2 s, up to
    5.3 s away from API server restarts (100 Rollouts, load average above 6); a leak
    of traffic the controller caused would last far longer."""

    @classmethod
    def quick(cls) -> Shape:
        return cls(
            rollouts=20,
            rps_per_rollout=10,
            release_spread=30,
            faults_for=150,
            settle_timeout=120,
            traffic_settle=8,
        )

    @classmethod
    def full(cls) -> Shape:
        return cls(
            rollouts=100,
            rps_per_rollout=2,  # 4 measured 144 of 400 requests/s sent: the machine's limit
            release_spread=120,
            faults_for=300,
            settle_timeout=300,
            traffic_settle=10,
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    shape: Shape
    releases: tuple[Release, ...]
    events: tuple[Event, ...]

    def count(self, kind: FaultKind) -> int:
        return sum(1 for e in self.events if e.kind is kind)


_MIX = (Kind.HEALTHY, Kind.HEALTHY, Kind.ERRORS, Kind.LATENCY, Kind.LATE)


def make_plan(shape: Shape, seed: int) -> Plan:
    """Releases (two in five healthy, the rest one of each bad kind) and fault events.

    Faults, as fractions of ``faults_for`` (F): API server restarts at 0.15 F and
    0.6 F; Prometheus down 60 s from 0.3 F; a second replica from 0.55 F to
    0.85 F. Kills every 10-30 s from 5 s on: within the two-replica window each
    replaces the leader's pod (so the standby must take over); elsewhere one in
    three does, the others crash and restart in place.
    """
    rng = random.Random(seed)  # noqa: S311 - a test schedule, not security
    n = shape.rollouts
    kinds = [_MIX[i % len(_MIX)] for i in range(n)]
    rng.shuffle(kinds)
    spread = shape.release_spread
    releases = tuple(
        Release(rollout=f"soak-{i:03d}", kind=kind, at=round(spread * i / max(n - 1, 1), 3))
        for i, kind in enumerate(kinds)
    )
    f = shape.faults_for
    standby = (0.55 * f, 0.85 * f)
    events = [
        Event(at=0.15 * f, kind=FaultKind.APISERVER_RESTART),
        Event(at=0.6 * f, kind=FaultKind.APISERVER_RESTART),
        Event(at=0.3 * f, kind=FaultKind.PROMETHEUS_STOP),
        Event(at=0.3 * f + 60, kind=FaultKind.PROMETHEUS_START),
        Event(at=standby[0], kind=FaultKind.STANDBY_START),
        Event(at=standby[1], kind=FaultKind.STANDBY_STOP),
    ]
    at = 5.0
    while at < f:
        in_standby = standby[0] < at < standby[1]
        replace = in_standby or rng.random() < 1 / 3
        events.append(
            Event(at=round(at, 3), kind=FaultKind.REPLACE if replace else FaultKind.CRASH)
        )
        at += rng.uniform(10, 30)
    return Plan(shape=shape, releases=releases, events=tuple(sorted(events)))
