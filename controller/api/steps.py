"""Canary steps in the Rollout API: what one step of a release does.

A step has exactly one action: ``setWeight``, ``pause``, ``analysis``,
``setHeaderRoute`` or ``setCanaryScale``. The strategy that orders them is in
:mod:`controller.api.spec`.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator, model_validator

from controller.api.analysis import AnalysisStep
from controller.api.base import (
    MIN_WAIT,
    MIN_WAIT_MESSAGE,
    Model,
    cel,
    cel_at_least,
    second_or_longer,
)
from controller.api.routing import SetCanaryScale, SetHeaderRoute
from controller.api.wire import DURATION_PATTERN

__all__ = ["Pause", "Step"]


class Pause(Model):
    """Wait: for ``duration`` if given, otherwise until ``landinggear promote``."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"!has(self.duration) || self.duration.matches('{DURATION_PATTERN}')",
                    "pause.duration must be a duration such as 30s, 5m or 1h30m",
                    field_path=".duration",
                ),
                cel(
                    f"!has(self.duration) || {cel_at_least('self.duration', MIN_WAIT)}",
                    f"pause.duration {MIN_WAIT_MESSAGE}",
                    field_path=".duration",
                ),
            ]
        }
    )

    duration: str | None = Field(
        default=None,
        max_length=32,
        description="How long to wait (e.g. 30s, 5m, 1h30m; at least 1s); omit to wait for "
        "promote.",
    )

    @field_validator("duration")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        return None if value is None else second_or_longer(value)


class Step(Model):
    """One step of the canary: exactly one action."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.setWeight), has(self.pause), has(self.analysis), "
                    "has(self.setHeaderRoute), has(self.setCanaryScale)]"
                    ".filter(x, x).size() == 1",
                    "each step must have exactly one action: setWeight, pause, analysis, "
                    "setHeaderRoute or setCanaryScale",
                )
            ]
        }
    )

    set_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of traffic to send to the new revision (0-100).",
    )
    pause: Pause | None = Field(default=None, description="Wait for a time or for promote.")
    analysis: AnalysisStep | None = Field(
        default=None,
        description="Wait until the analysis' metrics pass (or one fails) at this step.",
    )
    set_header_route: SetHeaderRoute | None = Field(
        default=None,
        description="Route requests with matching headers to the canary (needs trafficRouting).",
    )
    set_canary_scale: SetCanaryScale | None = Field(
        default=None,
        description="Size the canary apart from its weight (needs trafficRouting).",
    )

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = (
            self.set_weight,
            self.pause,
            self.analysis,
            self.set_header_route,
            self.set_canary_scale,
        )
        if sum(a is not None for a in actions) != 1:
            raise ValueError(
                "each step must have exactly one action: setWeight, pause, analysis, "
                "setHeaderRoute or setCanaryScale"
            )
        return self
