"""What the I/O layer measured for one look, handed to the core as values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.api.analysis import Stage
from controller.judge.sequential import Window

UNMEASURABLE = "cannot be measured: "
"""How the reason of a metric that cannot be measured begins (a configuration error):
the metric is inconclusive, yet looks go on, so it resumes once the cause is fixed."""


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One metric's look: counts (comparison) or a value (threshold), or why it failed.

    A comparison's ``window`` holds the counts *since the analysis started*
    (cumulative, exact whole numbers): the core takes what is new since its last
    look. So a look that finds an older sample than usual (a missed scrape) only
    delays counts, never loses them. ``window`` None and
    ``value`` None without an error means the query found no data. ``invalid`` is
    a configuration error (e.g. a query template that does not render): nothing
    can be measured until the Rollout is fixed.
    """

    metric: str
    window: Window | None = None
    value: float | None = None
    error: str = ""
    invalid: str = ""


@dataclass(frozen=True, kw_only=True)
class Measurements:
    """The looks due at ``at`` for ``revision`` (the canary, or the guarded stable)."""

    revision: str
    at: datetime
    results: tuple[Measurement, ...]
    stage: Stage = Stage.CANARY
    started_at: datetime | None = None
    """The start of the analysis the looks count from; the core drops looks of an
    analysis that has started over since (``onAnomaly: DisableFlags``)."""
