"""Metric analysis in the step machine: a failing metric aborts, broken metrics hold."""

from __future__ import annotations

from datetime import timedelta

from controller.api.v1alpha1 import Phase, Rollout
from controller.core.decide import decide
from controller.core.measurements import Measurement, Measurements
from controller.judge.sequential import Window
from tests.unit.core.sim import Sim

ANALYSIS = {"interval": "10s", "metrics": [{"name": "errors", "builtin": "app-errors"}]}


class AnalysedSim(Sim):
    def rollout(self) -> Rollout:
        data = super().rollout().model_dump(by_alias=True)
        data["spec"]["strategy"]["canary"]["analysis"] = ANALYSIS
        return Rollout.model_validate(data)

    def look(self, window: Window | None, error: str = "") -> None:
        revision = self.status.canary_revision
        assert revision is not None
        if window is not None and self.status.analysis is not None:
            # The analyst reports counts since the analysis started: add what was
            # folded in so far to this look's increments.
            seen = self.status.analysis.metrics[0]
            window = Window(
                canary_requests=seen.canary_requests + window.canary_requests,
                canary_bad=seen.canary_bad + window.canary_bad,
                stable_requests=seen.stable_requests + window.stable_requests,
                stable_bad=seen.stable_bad + window.stable_bad,
            )
        measurements = Measurements(
            revision=revision,
            at=self.now,
            results=(Measurement(metric="errors", window=window, error=error),),
        )
        decision = decide(self.rollout(), self.world(), self.now, measurements)
        for action in decision.actions:
            self.apply(action)
        self.status = decision.status
        self.last = decision


def canary_at_pause() -> AnalysedSim:
    sim = AnalysedSim(steps=[{"setWeight": 50}, {"pause": {}}], replicas=4)
    sim.settle()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    assert sim.status.current_step_index == 1
    return sim


def test_a_metric_that_fails_aborts_in_the_same_reconcile() -> None:
    sim = canary_at_pause()
    canary = sim.status.canary_revision
    for _ in range(10):
        sim.advance(10)
        sim.look(Window(canary_requests=100, canary_bad=20, stable_requests=100, stable_bad=1))
        if sim.status.phase is Phase.DEGRADED:
            break
    assert sim.status.phase is Phase.DEGRADED
    assert "AnalysisFailed" in sim.status.message
    assert "errors: canary" in sim.status.message
    assert sim.rs_replicas(canary) == 0
    assert sim.status.blocked_revision == canary


def test_a_canary_without_traffic_is_never_rolled_back() -> None:
    sim = canary_at_pause()
    for _ in range(50):
        sim.advance(10)
        sim.look(Window(canary_requests=0, canary_bad=0, stable_requests=0, stable_bad=0))
    assert sim.status.phase is Phase.PAUSED
    assert sim.status.analysis is not None
    assert sim.status.analysis.metrics[0].verdict == "Undecided"


def test_measurements_failing_in_a_row_hold_the_release_and_never_promote() -> None:
    sim = AnalysedSim(steps=[{"setWeight": 50}], replicas=2)
    sim.settle()
    sim.set_image("web:v2")
    sim.reconcile()
    for _ in range(5):  # more than max_consecutive_errors (4) in a row
        sim.advance(10)
        sim.look(None, error="connection refused")
    sim.pods_ready()
    sim.advance(10)
    sim.look(None, error="connection refused")
    assert sim.status.phase is Phase.PAUSED
    assert "metrics cannot be judged" in sim.status.message
    assert sim.status.stable_revision != sim.revision  # not promoted
    sim.advance(10)
    sim.look(Window(canary_requests=50, canary_bad=0, stable_requests=50, stable_bad=0))
    sim.pods_ready()
    sim.settle()
    assert sim.status.stable_revision == sim.revision  # measurable again: the release goes on


def test_looks_are_requested_every_interval() -> None:
    sim = canary_at_pause()
    sim.look(Window(canary_requests=1, canary_bad=0, stable_requests=1, stable_bad=0))
    assert sim.last is not None
    assert sim.last.requeue_after == timedelta(seconds=10).total_seconds()
