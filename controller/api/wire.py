"""What the Rollout API means on the wire, without the models: names, limits, enums,
durations and step progress.

The command line is a one-click path that must start in a blink, so it reads
Rollouts as plain dicts and never imports pydantic; it shares its spellings with
the models through this module, which imports nothing beyond the standard library.
The model modules (:mod:`~controller.api.v1alpha1`, :mod:`~controller.api.status`,
:mod:`~controller.api.analysis`, :mod:`~controller.api.flags`,
:mod:`~controller.api.base`) re-export these names.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

__all__ = [
    "API_VERSION",
    "DURATION_PATTERN",
    "GROUP",
    "KIND",
    "MAX_FLAGS",
    "MAX_REQUEST_ID",
    "PLURAL",
    "VERSION",
    "Stage",
    "Verdict",
    "parse_duration",
    "step_progress",
]

GROUP = "landinggear.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Rollout"
PLURAL = "rollouts"

MAX_FLAGS = 16
"""The most feature flags one Rollout may declare."""

MAX_REQUEST_ID = 128
"""Longest request id acted on: ``handledRequests`` keeps it, and the CRD bounds its values
to this, so a longer one would make every status write fail."""

DURATION_PATTERN = r"^([0-9]+([.][0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration (``30s``, ``1m30s``, ``250ms``, ``2h``)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h30m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


class Verdict(StrEnum):
    UNDECIDED = "Undecided"
    PASS = "Pass"  # noqa: S105 - a verdict, not a password
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


class Stage(StrEnum):
    CANARY = "Canary"
    """The canary against the concurrent stable."""
    GUARD = "Guard"
    """After promotion: the new stable against the previous revision's baseline."""


def step_progress(index: int | None, total: int) -> str | None:
    """``2/4`` for the step at index 1 of 4 (past the last step: ``4/4``); None without one."""
    if index is None or total == 0:
        return None
    return f"{min(index + 1, total)}/{total}"
