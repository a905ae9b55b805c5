"""Threshold rules: a metric's value against fixed conditions, counted over measurements.

Parity with Argo Rollouts' analysis and Flagger's checks, with their counting
written down exactly and their blind spots closed. Every ``interval`` (the first
after ``initial_delay``) one measurement is taken and classified:

========================  =====================================================
measurement               outcome
========================  =====================================================
query failed              ``Error``
no data (empty or NaN)    per ``no_data``: ``Failed``, ``Inconclusive`` or not
                          counted at all (``ignore``)
value                     ``Successful`` if ``success`` holds (and ``failure``
                          does not); ``Failed`` if ``failure`` holds, or if only
                          ``success`` is given and it does not; otherwise
                          ``Inconclusive``
========================  =====================================================

The metric's phase, after each measurement, in this order:

* ``Failed`` when failed measurements **exceed** ``failure_limit`` (0 → the first
  failure fails, as in Argo), or consecutive errors exceed
  ``consecutive_error_limit`` and ``on_error`` is ``fail``;
* ``Inconclusive`` when inconclusive measurements exceed ``inconclusive_limit``,
  or consecutive errors exceed ``consecutive_error_limit`` and ``on_error`` is
  ``inconclusive`` (the default: a dead Prometheus pauses, it never promotes);
* ``Successful`` once ``count`` measurements were taken, none of the above, and
  at least one measurement succeeded (``Inconclusive`` if none did);
* ``Running`` otherwise. A successful measurement resets the consecutive errors.

Neither a query error nor NaN is ever counted as a success (Argo has passed
runs whose every measurement errored; Flagger rolls back a canary with no
traffic — ``no_data: inconclusive`` avoids both).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class Outcome(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    IGNORED = "Ignored"


class Phase(StrEnum):
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class NoDataPolicy(StrEnum):
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    IGNORE = "ignore"


class ErrorPolicy(StrEnum):
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, kw_only=True)
class Condition:
    """``value <op> threshold``: a comparison, never an expression to evaluate."""

    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}: use one of {', '.join(_OPERATORS)}")
        if not math.isfinite(self.threshold):
            raise ValueError("a condition's threshold must be a finite number")

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse ``"< 0.05"`` or ``">= 99"``."""
        stripped = text.strip()
        for op in sorted(_OPERATORS, key=len, reverse=True):
            if stripped.startswith(op):
                try:
                    return cls(op=op, threshold=float(stripped[len(op) :]))
                except ValueError as err:
                    raise ValueError(f"invalid condition {text!r}: {err}") from err
        raise ValueError(f"invalid condition {text!r}: expected e.g. '< 0.05' or '>= 0.99'")


@dataclass(frozen=True, kw_only=True)
class Rule:
    success: Condition | None = None
    failure: Condition | None = None
    interval: timedelta = timedelta(seconds=30)
    initial_delay: timedelta = timedelta(0)
    count: int | None = None
    """Measurements to take; None: measure until the release ends."""
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4
    no_data: NoDataPolicy = NoDataPolicy.INCONCLUSIVE
    on_error: ErrorPolicy = ErrorPolicy.INCONCLUSIVE

    def __post_init__(self) -> None:
        if self.success is None and self.failure is None:
            raise ValueError("a threshold rule needs a success or a failure condition")
        if self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if min(self.failure_limit, self.inconclusive_limit, self.consecutive_error_limit) < 0:
            raise ValueError("limits cannot be negative")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")


@dataclass(frozen=True, kw_only=True)
class Tally:
    """What a metric has seen so far; lives in the Rollout's status."""

    started_at: datetime
    measurements: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_value: float | None = None
    phase: Phase = Phase.RUNNING


def classify(rule: Rule, value: float | None, *, error: bool = False) -> Outcome:
    """The outcome of one measurement (see the module docstring's table)."""
    if error:
        return Outcome.ERROR
    if value is None or math.isnan(value):
        return {
            NoDataPolicy.FAIL: Outcome.FAILED,
            NoDataPolicy.INCONCLUSIVE: Outcome.INCONCLUSIVE,
            NoDataPolicy.IGNORE: Outcome.IGNORED,
        }[rule.no_data]
    failing = rule.failure is not None and rule.failure.holds(value)
    succeeding = rule.success is not None and rule.success.holds(value)
    if failing:
        return Outcome.FAILED
    if rule.success is None:
        return Outcome.SUCCESSFUL
    if succeeding:
        return Outcome.SUCCESSFUL
    return Outcome.FAILED if rule.failure is None else Outcome.INCONCLUSIVE


def record(rule: Rule, tally: Tally, outcome: Outcome, value: float | None) -> Tally:
    """Fold one measurement into the tally and recompute the phase. Final phases stay."""
    if tally.phase is not Phase.RUNNING:
        return tally
    if outcome is Outcome.IGNORED:
        return replace(tally, measurements=tally.measurements + 1, last_value=value)
    tally = replace(
        tally,
        measurements=tally.measurements + 1,
        successful=tally.successful + (outcome is Outcome.SUCCESSFUL),
        failed=tally.failed + (outcome is Outcome.FAILED),
        inconclusive=tally.inconclusive + (outcome is Outcome.INCONCLUSIVE),
        errors=tally.errors + (outcome is Outcome.ERROR),
        consecutive_errors=tally.consecutive_errors + 1 if outcome is Outcome.ERROR else 0,
        last_value=value if outcome is not Outcome.ERROR else tally.last_value,
    )
    return replace(tally, phase=phase(rule, tally))


def phase(rule: Rule, tally: Tally) -> Phase:
    errored = tally.consecutive_errors > rule.consecutive_error_limit
    if tally.failed > rule.failure_limit or (errored and rule.on_error is ErrorPolicy.FAIL):
        return Phase.FAILED
    if tally.inconclusive > rule.inconclusive_limit or errored:
        return Phase.INCONCLUSIVE
    if rule.count is not None and tally.measurements >= rule.count:
        # Errors and missing data were tolerated, but they are not successes: a run
        # in which nothing succeeded is inconclusive, never successful.
        return Phase.SUCCESSFUL if tally.successful else Phase.INCONCLUSIVE
    return Phase.RUNNING


def next_measurement(rule: Rule, tally: Tally) -> datetime | None:
    """When the next measurement is due (None once the phase is final)."""
    if tally.phase is not Phase.RUNNING:
        return None
    return tally.started_at + rule.initial_delay + rule.interval * tally.measurements
