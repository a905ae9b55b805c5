"""The analysed sim: a ``Sim`` whose Rollout has an analysis, answered from a traffic model.

The sim plays the I/O layer: it asks the core which looks are due
(``looks.target`` / ``looks.plan``, as the analyst does) and answers them
from a traffic model — each revision's bad-request rate, requests split by the
canary weight — with expected (not random) counts, so every outcome is
deterministic. ``Traffic.error`` makes every look fail (Prometheus down);
``AnalysedSim.counted_since`` drops the requests served before it from the
counts (a Prometheus that came back without the samples it missed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.api.analysis import Stage
from controller.api.v1alpha1 import Phase
from controller.core import looks
from controller.core.decide import decide
from controller.core.measurements import Measurement, Measurements
from controller.judge.sequential import Window
from tests.unit.core.sim import Sim

__all__ = ["COMPARISON", "AnalysedSim", "Traffic", "aborted", "phase", "released"]

COMPARISON = {"name": "errors", "builtin": "app-errors"}


@dataclass
class Traffic:
    rps: float = 100.0
    bad_rate: dict[str, float] = field(default_factory=dict)
    """Per revision; 1 % by default."""
    value: Callable[[str], float | None] | None = None
    """Threshold queries: the value for the revision measured."""
    error: str = ""


@dataclass
class AnalysedSim(Sim):
    analysis_spec: dict[str, Any] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    looked: Measurements | None = None
    """The looks handed to the last reconcile."""
    counted_since: datetime | None = None
    """Requests before this time are missing from the counts."""

    def canary_extra(self) -> dict[str, Any]:
        return {**super().canary_extra(), "analysis": self.analysis_spec}

    def measurements(self) -> Measurements | None:
        rollout = self.rollout()
        spec = rollout.spec.strategy.canary.analysis
        assert spec is not None
        target = looks.target(spec, rollout.status, now=self.now)
        if target is None:
            return None
        results = []
        for due in looks.plan(spec, target.current, now=self.now):
            results.append(self.answer(due, target))
        if not results:
            return None
        return Measurements(
            revision=target.revision,
            at=self.now,
            results=tuple(results),
            stage=target.stage,
            started_at=target.current.started_at,
        )

    def answer(self, due: looks.Due, target: looks.Target) -> Measurement:
        name = due.metric.name
        if self.traffic.error:
            return Measurement(metric=name, error=self.traffic.error)
        if due.metric.threshold is not None:
            assert self.traffic.value is not None
            return Measurement(metric=name, value=self.traffic.value(target.revision))
        seconds = self.interval_seconds(due, target)
        share = self.status.canary_weight / 100 if target.stage == Stage.CANARY else 1.0
        canary = self.traffic.rps * seconds * share
        stable = self.traffic.rps * seconds - canary
        rate = self.traffic.bad_rate
        # The analyst reports counts since the analysis started: what was folded in
        # so far plus this interval's.
        seen = next(m for m in target.current.metrics if m.name == name)
        return Measurement(
            metric=name,
            window=Window(
                canary_requests=seen.canary_requests + canary,
                canary_bad=seen.canary_bad + canary * rate.get(target.revision, 0.01),
                stable_requests=seen.stable_requests + stable,
                stable_bad=seen.stable_bad + stable * rate.get(target.other, 0.01),
            ),
        )

    def interval_seconds(self, due: looks.Due, target: looks.Target) -> float:
        seen = next(m for m in target.current.metrics if m.name == due.metric.name)
        since = seen.measured_at or target.current.started_at or self.now
        if self.counted_since is not None:
            since = max(since, self.counted_since)
        return max(0.0, (self.now - since).total_seconds())

    def reconcile(self, *, write_status: bool = True, measured: bool = True) -> Any:
        """One reconcile; ``measured=False``: the looks due are still running (the first
        reconcile of a controller that just started leading)."""
        self.looked = self.measurements() if measured else None
        decision = decide(self.rollout(), self.world(), self.now, self.looked)
        return self.carry_out(decision, write_status)

    def run(self, seconds: float, step: float = 1.0) -> None:
        """Reconcile every ``step`` seconds for ``seconds``, pods becoming Ready at once."""
        for _ in range(round(seconds / step)):
            self.advance(step)
            self.reconcile()
            self.pods_ready()


def released(
    steps: list[dict[str, Any]],
    spec: dict[str, Any],
    traffic: Traffic | None = None,
    **fields: Any,
) -> AnalysedSim:
    """A canary of ``web:v2`` just started; ``fields`` are more of the sim's fields."""
    sim = AnalysedSim(
        steps=steps,
        replicas=4,
        analysis_spec={"interval": "5s", **spec},
        traffic=traffic or Traffic(),
        **fields,
    )
    sim.settle()
    sim.set_image("web:v2")
    sim.reconcile()
    sim.pods_ready()
    return sim


def phase(sim: AnalysedSim) -> Phase:
    return sim.status.phase


def aborted(sim: AnalysedSim) -> bool:
    return sim.status.phase is Phase.DEGRADED and sim.status.blocked_revision == sim.revision
