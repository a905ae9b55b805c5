"""Shared pieces of the API models: the base model, durations, CEL rule helper.

Durations are Go-style strings (``30s``, ``1m30s``) checked twice, by the CRD
(pattern and CEL, so the API server refuses a bad Rollout) and by pydantic (so
the controller refuses one that got past an older CRD). :data:`Duration` is any
of them, zero included (an ``initialDelay`` of ``0s`` means none);
:data:`SecondOrLonger` is for what the controller waits on and looks again
after: an analysis' ``interval``, a threshold rule's ``interval``, a pause, an
analysis step's ``maxDuration``, the guard's ``duration``. At ``0s`` an interval
had the controller query Prometheus at every reconcile and requeue the Rollout
at once (a busy loop on both), and a threshold rule's ``${window}`` became the
invalid PromQL range ``[0s]``; below a second, a look covers less than one
scrape of any sane Prometheus and a pause ends before the controller can look
again, so one second is the floor.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from controller.api.wire import DURATION_PATTERN, parse_duration

MIN_WAIT = "1s"
"""The shortest interval, pause or deadline a Rollout may ask for (see the module docstring)."""
MIN_WAIT_MESSAGE = (
    f"must be at least {MIN_WAIT} (a shorter interval, pause or deadline would have the "
    "controller look again in a busy loop)"
)


def cel_at_least(subject: str, minimum: str) -> str:
    """CEL: the duration string ``subject`` is at least ``minimum`` (true when it is no
    duration at all: the pattern reports that)."""
    return (
        f"!{subject}.matches('{DURATION_PATTERN}') || duration({subject}) >= duration('{minimum}')"
    )


def _parses(text: str) -> str:
    parse_duration(text)
    return text


def second_or_longer(text: str) -> str:
    """``text`` if it is a duration of at least :data:`MIN_WAIT`; else ValueError."""
    if parse_duration(text) < parse_duration(MIN_WAIT):
        raise ValueError(f"{text} {MIN_WAIT_MESSAGE}")
    return text


Duration = Annotated[str, Field(max_length=32, pattern=DURATION_PATTERN), AfterValidator(_parses)]
"""Any duration, ``0s`` included."""

SecondOrLonger = Annotated[
    str,
    Field(
        max_length=32,
        pattern=DURATION_PATTERN,
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": cel_at_least("self", MIN_WAIT), "message": MIN_WAIT_MESSAGE}
            ]
        },
    ),
    AfterValidator(second_or_longer),
]
"""A duration the controller waits on: :data:`MIN_WAIT` or longer."""


def cel(rule: str, message: str, *, field_path: str | None = None) -> dict[str, Any]:
    validation: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )
