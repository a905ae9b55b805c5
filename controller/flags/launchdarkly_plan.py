"""What switching a LaunchDarkly flag off, or restoring it, asks of LaunchDarkly (pure).

A LaunchDarkly flag is on or off per environment (``environments.<env>.on``).
The record of who holds it off, and what it was before, lives on the flag
itself, as tags (flag-level, so they are per environment by name):

``landinggear-hold.<env8>.<holder16>``
    One per holder: a Rollout's entry (``<namespace>/<rollout>/<handle>``) that
    switched the flag off in that environment.
``landinggear-was-on.<env8>``
    The flag was on before its first current holder switched it off.

``<env8>`` and ``<holder16>`` are the first 8 and 16 hex digits of the SHA-256
of the environment key and of the holder, so every tag keeps to LaunchDarkly's
rules (at most 64 characters of letters, digits, ``.``, ``_`` and ``-``)
whatever the names are. Tags that are not ours are never touched.

A change is one semantic patch: ``addTags`` / ``removeTags`` and ``turnFlagOff`` /
``turnFlagOn``, applied by LaunchDarkly all or nothing. Semantic patches carry no
precondition (no version to test), so a plan is computed from the flag as last
seen, sent, and computed again from the flag the PATCH answers with, until there
is nothing left to do. The plans are written so that this converges to the
right end state from anything a crash or a concurrent holder can leave behind:

*Off* (:func:`plan_off`): add my hold, add the was-on mark if the flag is on *or*
the mark is there already (re-adding it undoes a concurrent last restore that
dropped it between my read and my write), turn it off — all in one request,
so the hold and the mark are never recorded without the flag being off, nor
the flag off without the record. Nothing to do once I hold it and it is off.

*Restore* (:func:`plan_restore`): drop my hold; then, looking at the *other*
holders in this environment:

- none, and the mark is there: turn the flag on and drop the mark (in the same
  request as dropping my hold when I am the last one out; on its own when a
  restore was interrupted, or two last restores raced, after the holds were
  gone — whoever restores next finishes it);
- some, and the flag is on without the mark: a concurrent last restore turned
  it on just after another Rollout took hold, so put the mark back and turn it
  off again (the flag was on before, by construction);
- otherwise nothing more (in particular a flag held by others stays off, and a
  flag someone turned on by hand while held, mark still there, is left alone).

So restoring a flag this Rollout does not hold changes nothing, except to
finish what such an interrupted or racing restore left behind. The ``previous``
text of a switch-off is ``{"on": true|false}``: whether the flag was on before
its first holder; restore goes by the tags, not by that text, since another
Rollout may have taken hold in between.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.flags import FlagError

__all__ = [
    "TAG_PATTERN",
    "FlagView",
    "Instruction",
    "Tags",
    "holder",
    "plan_off",
    "plan_restore",
    "previous_text",
    "read_flag",
]

HOLD_PREFIX = "landinggear-hold"
MARK_PREFIX = "landinggear-was-on"
TAG_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""LaunchDarkly's rule for tags."""

Instruction = dict[str, Any]
"""One semantic-patch instruction, e.g. ``{"kind": "turnFlagOff"}``."""

TURN_OFF: Instruction = {"kind": "turnFlagOff"}
TURN_ON: Instruction = {"kind": "turnFlagOn"}


def _hash(text: str, digits: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:digits]


def holder(namespace: str, rollout: str, handle: str) -> str:
    """How a Rollout's flag entry is named as a holder (before hashing into a tag)."""
    return f"{namespace}/{rollout}/{handle}"


@dataclass(frozen=True, kw_only=True)
class Tags:
    """The tags that record one holder's hold, and the flag's past, in one environment."""

    hold: str
    """This holder's tag."""
    mark: str
    """The was-on mark of the environment."""
    holds: str
    """The prefix every holder's tag in the environment starts with."""

    @classmethod
    def of(cls, *, environment: str, holder: str) -> Tags:
        env = _hash(environment, 8)
        holds = f"{HOLD_PREFIX}.{env}."
        return cls(hold=holds + _hash(holder, 16), mark=f"{MARK_PREFIX}.{env}", holds=holds)

    def holders(self, view: FlagView) -> frozenset[str]:
        """The hold tags on the flag in this environment (mine included)."""
        return frozenset(t for t in view.tags if t.startswith(self.holds))


@dataclass(frozen=True, kw_only=True)
class FlagView:
    """What the plans read of a flag: on or off in the environment, and its tags."""

    on: bool
    tags: frozenset[str]


def read_flag(flag: Any, environment: str, *, where: str) -> FlagView:
    """The :class:`FlagView` of LaunchDarkly's flag representation; raises :class:`FlagError`
    when it does not have the environment or is not a flag."""
    if not isinstance(flag, Mapping):
        raise FlagError(f"{where}: LaunchDarkly's answer is not a flag")
    environments = flag.get("environments")
    env = environments.get(environment) if isinstance(environments, Mapping) else None
    if not isinstance(env, Mapping):
        raise FlagError(f"{where}: the flag has no environment {environment!r}")
    on = env.get("on")
    tags = flag.get("tags") or []
    if not isinstance(on, bool) or not isinstance(tags, list):
        raise FlagError(f"{where}: LaunchDarkly's answer has no on/off state or tags")
    return FlagView(on=on, tags=frozenset(t for t in tags if isinstance(t, str)))


def add_tags(values: list[str]) -> Instruction:
    return {"kind": "addTags", "values": sorted(values)}


def remove_tags(values: list[str]) -> Instruction:
    return {"kind": "removeTags", "values": sorted(values)}


def plan_off(view: FlagView, tags: Tags) -> list[Instruction]:
    """What switches the flag off for ``tags.hold``, recording whether it was on
    (empty: I hold it and it is off)."""
    if tags.hold in view.tags and not view.on:
        return []
    record = [tags.hold]
    if view.on or tags.mark in view.tags:
        record.append(tags.mark)
    return [add_tags(record), TURN_OFF]


def plan_restore(view: FlagView, tags: Tags) -> list[Instruction]:
    """What releases ``tags.hold``'s hold and, if it was the last, puts the flag back
    (empty: nothing left to do)."""
    remove: list[str] = []
    if tags.hold in view.tags:
        remove.append(tags.hold)
    others = tags.holders(view) - {tags.hold}
    marked = tags.mark in view.tags
    instructions: list[Instruction] = []
    if not others and marked:
        remove.append(tags.mark)
        instructions.append(TURN_ON)
    elif others and view.on and not marked:
        instructions = [add_tags([tags.mark]), TURN_OFF]
    if remove:
        instructions.insert(0, remove_tags(remove))
    return instructions


def previous_text(view: FlagView, tags: Tags) -> str:
    """What a switch-off reports as the flag's state before its first holder."""
    return json.dumps({"on": tags.mark in view.tags})
