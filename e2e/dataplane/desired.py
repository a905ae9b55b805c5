"""Pure: which demo apps should run, read from ReplicaSet objects (plain dicts).

A revision runs one app while its ReplicaSet has ``status.availableReplicas > 0``;
the app behaves as the pod template's first container's env says
(``ERROR_RATE``, ``LATENCY_MS``, ``LATENCY_JITTER_MS``, and ``ERRORS_AFTER_SECONDS``
to let the errors begin only that long after the app started, a regression that
shows late; ``FLAG`` and ``FLAG_ERROR_RATE``: the share of errors while that
feature flag is on, as the app's own flag SDK sees it; absent means healthy),
and it gets traffic in proportion to ``status.readyReplicas``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.revisions import REVISION_LABEL, ROLLOUT_LABEL

__all__ = [
    "ERRORS_AFTER_SECONDS_ENV",
    "ERROR_RATE_ENV",
    "FLAG_ENV",
    "FLAG_ERROR_RATE_ENV",
    "LATENCY_JITTER_MS_ENV",
    "LATENCY_MS_ENV",
    "Behaviour",
    "DesiredRevision",
    "RevisionKey",
    "behaviour_from_env",
    "desired_revisions",
]

ERROR_RATE_ENV = "ERROR_RATE"
LATENCY_MS_ENV = "LATENCY_MS"
LATENCY_JITTER_MS_ENV = "LATENCY_JITTER_MS"
ERRORS_AFTER_SECONDS_ENV = "ERRORS_AFTER_SECONDS"
FLAG_ENV = "FLAG"
FLAG_ERROR_RATE_ENV = "FLAG_ERROR_RATE"


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """How a revision's app answers: share of 500s and delay (ms, ± uniform jitter)."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    errors_after_seconds: float = 0.0
    """The error rate applies only from this long after the app started."""
    flag: str = ""
    """A feature flag the app evaluates; while it is on, ``flag_error_rate`` applies."""
    flag_error_rate: float = 0.0


@dataclass(frozen=True, kw_only=True, order=True)
class RevisionKey:
    """One revision of one rollout; a namespace's data plane runs one app per key."""

    rollout: str
    revision: str


@dataclass(frozen=True, kw_only=True)
class DesiredRevision:
    """A revision that should be served: its app's behaviour and its traffic weight."""

    key: RevisionKey
    replicaset: str
    behaviour: Behaviour
    ready: int

    def target_labels(self, namespace: str) -> dict[str, str]:
        """Labels of its Prometheus target."""
        return {"namespace": namespace, "rollout": self.key.rollout, "revision": self.key.revision}


def _number(name: str, raw: str, *, low: float, high: float | None = None) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(f"{name}={raw!r} is not within {bound}")
    return value


def behaviour_from_env(env: Sequence[Mapping[str, Any]] | None) -> Behaviour:
    """Read a container's ``env`` list; ``ValueError`` names a malformed variable.

    Variables set with ``valueFrom`` have no value here and count as absent.
    """
    values = {
        item["name"]: str(item["value"])
        for item in env or ()
        if item.get("name") and item.get("value") is not None
    }
    error_rate = values.get(ERROR_RATE_ENV)
    latency = values.get(LATENCY_MS_ENV)
    jitter = values.get(LATENCY_JITTER_MS_ENV)
    after = values.get(ERRORS_AFTER_SECONDS_ENV)
    flag_rate = values.get(FLAG_ERROR_RATE_ENV)
    return Behaviour(
        flag=values.get(FLAG_ENV, ""),
        flag_error_rate=_number(FLAG_ERROR_RATE_ENV, flag_rate, low=0, high=1)
        if flag_rate
        else 0.0,
        errors_after_seconds=_number(ERRORS_AFTER_SECONDS_ENV, after, low=0) if after else 0.0,
        error_rate=_number(ERROR_RATE_ENV, error_rate, low=0, high=1) if error_rate else 0.0,
        latency_ms=_number(LATENCY_MS_ENV, latency, low=0) if latency else 0.0,
        latency_jitter_ms=_number(LATENCY_JITTER_MS_ENV, jitter, low=0) if jitter else 0.0,
    )


def desired_revisions(
    replicasets: Iterable[Mapping[str, Any]],
) -> tuple[dict[RevisionKey, DesiredRevision], list[str]]:
    """The revisions to serve, and a message per ReplicaSet that had to be skipped.

    ReplicaSets without both Landing Gear labels are ignored; so are those with
    no available replica. Two ReplicaSets of one revision (not something the
    controller makes) share one app, and their ready counts add up.
    """
    wanted: dict[RevisionKey, DesiredRevision] = {}
    problems: list[str] = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        labels = meta.get("labels") or {}
        status = rs.get("status") or {}
        rollout, revision = labels.get(ROLLOUT_LABEL), labels.get(REVISION_LABEL)
        if not rollout or not revision or int(status.get("availableReplicas") or 0) <= 0:
            continue
        name = meta.get("name", "?")
        containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or [{}]
        try:
            behaviour = behaviour_from_env(containers[0].get("env"))
        except ValueError as err:
            problems.append(f"ReplicaSet {name}: {err}")
            continue
        key = RevisionKey(rollout=rollout, revision=revision)
        ready = int(status.get("readyReplicas") or 0)
        if key in wanted:
            ready += wanted[key].ready
            behaviour = wanted[key].behaviour
        wanted[key] = DesiredRevision(key=key, replicaset=name, behaviour=behaviour, ready=ready)
    return wanted, problems
