"""What switching an Unleash feature off or restoring it takes, given what the server shows (pure).

Unleash keeps a feature's state per environment (``enabled``); the admin API
turns it ``/off`` and ``/on`` and keeps its strategies, so "as it was" is one
bit per environment. That bit and the Rollouts that hold the feature off live
on the feature itself, as tags of the tag type ``landinggear`` (visible in
Unleash's UI):

- ``hold:<env>:<holder>``: this Rollout's flag holds the feature off in that
  environment (``holder``: a hash of namespace, Rollout and flag handle);
- ``was-on:<env>``: the environment was enabled when the first holder switched
  it off, so the last holder to restore turns it back on.

Switching off writes the records first and turns the feature off last;
restoring turns it on first and drops the mark last. So a controller that dies
between two requests finds, when it tries again, a state from which the same
plan reaches the same end: the feature is on again exactly when it was on
before the first hold and every holder has restored it. Two Rollouts naming the
same feature therefore keep it off until both have restored it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "TAG_TYPE",
    "Feature",
    "Plan",
    "Step",
    "hold_tag",
    "holder",
    "plan_off",
    "plan_restore",
    "previous_text",
    "was_on_tag",
]

TAG_TYPE = "landinggear"
TAG_MAX = 50
"""Unleash's limit on a tag value (``TAG_MAX_LENGTH``)."""


def holder(namespace: str, rollout: str, flag: str) -> str:
    """A short, stable name for one Rollout's flag entry (fits a tag value)."""
    return hashlib.sha256(f"{namespace}/{rollout}/{flag}".encode()).hexdigest()[:16]


def _env(environment: str) -> str:
    """The environment as written in tags: its name if short, else a hash of it."""
    if len(environment) <= 24 and ":" not in environment:
        return environment
    return "h-" + hashlib.sha256(environment.encode()).hexdigest()[:16]


def hold_tag(environment: str, who: str) -> str:
    value = f"hold:{_env(environment)}:{who}"
    assert len(value) <= TAG_MAX
    return value


def was_on_tag(environment: str) -> str:
    return f"was-on:{_env(environment)}"


@dataclass(frozen=True, kw_only=True)
class Feature:
    """What the server shows of one feature in one environment."""

    enabled: bool
    tags: frozenset[str]
    """Values of the feature's tags of type :data:`TAG_TYPE`."""

    def holders(self, environment: str) -> set[str]:
        prefix = f"hold:{_env(environment)}:"
        return {t.removeprefix(prefix) for t in self.tags if t.startswith(prefix)}


@dataclass(frozen=True)
class Step:
    """One admin-API request: ``add_tag``/``remove_tag`` a value, or turn ``on``/``off``."""

    kind: str
    value: str = ""


@dataclass(frozen=True, kw_only=True)
class Plan:
    steps: tuple[Step, ...]
    was_on: bool
    """The environment was enabled before the first holder switched it off."""


def plan_off(feature: Feature, *, environment: str, who: str) -> Plan:
    """Hold the feature off in ``environment`` for ``who``; idempotent.

    The first holder records whether it was enabled; the feature is turned off
    last (and again if someone turned it on while held).
    """
    mine = hold_tag(environment, who)
    mark = was_on_tag(environment)
    others = feature.holders(environment) - {who}
    steps: list[Step] = []
    was_on = mark in feature.tags
    if mine not in feature.tags:
        if not others and feature.enabled and not was_on:
            steps.append(Step("add_tag", mark))
            was_on = True
        steps.append(Step("add_tag", mine))
    if feature.enabled:
        steps.append(Step("off"))
    return Plan(steps=tuple(steps), was_on=was_on)


def plan_restore(feature: Feature, *, environment: str, who: str) -> Plan:
    """Release ``who``'s hold; the last holder turns the feature back on if it was on.

    A hold this Rollout does not have changes nothing: a feature that nobody
    holds is left as it is, unless the mark of an interrupted restore remains.
    """
    mine = hold_tag(environment, who)
    mark = was_on_tag(environment)
    others = feature.holders(environment) - {who}
    was_on = mark in feature.tags
    steps: list[Step] = []
    if mine in feature.tags:
        steps.append(Step("remove_tag", mine))
    if not others and was_on:
        if not feature.enabled:
            steps.append(Step("on"))
        steps.append(Step("remove_tag", mark))
    return Plan(steps=tuple(steps), was_on=was_on)


def previous_text(was_on: bool) -> str:
    """What the status keeps as the feature's state before the hold."""
    return '{"enabled": true}' if was_on else '{"enabled": false}'


def apply(feature: Feature, steps: Iterable[Step]) -> Feature:
    """``feature`` after ``steps`` (what the server does; for tests and checks)."""
    enabled, tags = feature.enabled, set(feature.tags)
    for step in steps:
        if step.kind == "add_tag":
            tags.add(step.value)
        elif step.kind == "remove_tag":
            tags.discard(step.value)
        else:
            enabled = step.kind == "on"
    return Feature(enabled=enabled, tags=frozenset(tags))
