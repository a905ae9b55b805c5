"""Prometheus down mid-release: time that cannot be measured is not judged time.

A pause, an analysis step's ``maxDuration`` and the guard run only while the
metrics can be measured: otherwise a canary whose pause ran out during an outage
would be promoted on the first look after it, judged on the few requests
counted before it (found by the kill-soak: a canary failing 30 % of requests
promoted one second after Prometheus came back, then rolled back by the guard).
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.v1alpha1 import HistoryAction, Phase
from tests.unit.core.analysed import COMPARISON, AnalysedSim, Traffic, aborted, phase, released

pytestmark = pytest.mark.unit

STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "60s"}}]
SPEC = {"metrics": [COMPARISON], "interval": "2s", "maxConsecutiveErrors": 2}


def outage(sim: Any, seconds: float) -> None:
    """Prometheus down for ``seconds``; it comes back without the samples it missed."""
    sim.traffic.error = "connection refused"
    sim.run(seconds)
    sim.traffic.error = ""
    sim.counted_since = sim.now


def test_a_pause_that_ran_out_during_an_outage_still_judges_its_remaining_time() -> None:
    sim = released(STEPS, SPEC, Traffic(rps=4, bad_rate={}))
    sim.traffic.bad_rate[sim.revision] = 0.3
    sim.run(2)  # two seconds of the pause measured: 4 canary requests, not enough to judge
    assert sim.status.current_step_index == 1
    outage(sim, 120)  # far past the pause's 60 s
    assert sim.status.stable_revision != sim.revision, "promoted during the outage"
    assert sim.status.step_unjudged_seconds == 0  # the spell is still open, not yet added
    sim.run(2)
    assert sim.status.stable_revision != sim.revision, "promoted on the first look after it"
    assert sim.status.step_unjudged_seconds >= 118
    sim.run(56)
    assert aborted(sim), sim.status.message


def test_a_healthy_canary_is_promoted_after_the_pause_s_measured_time() -> None:
    sim = released(STEPS, SPEC, Traffic(rps=100, bad_rate={}))
    sim.run(10)
    outage(sim, 90)
    sim.run(45)  # 10 + 45 of the 60 measured seconds
    assert sim.status.current_step_index == 1
    assert sim.status.stable_revision != sim.revision
    sim.run(10)
    assert sim.status.stable_revision == sim.revision


def test_an_analysis_step_s_max_duration_does_not_run_during_an_outage() -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"analysis": {"maxDuration": "30s"}}]
    sim = released(steps, SPEC, Traffic(rps=0.2, bad_rate={}))
    outage(sim, 60)
    sim.run(20)
    assert sim.status.current_step_index == 1
    assert "waiting for the analysis" in sim.status.message  # not yet out of time
    sim.run(15)
    assert "still undecided" in sim.status.message


def guarded_promotion() -> tuple[AnalysedSim, str | None, str]:
    """A healthy v2 promoted after a 20 s pause, its 60 s guard just begun."""
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "20s"}}]
    spec = {**SPEC, "guard": {"duration": "60s"}}
    sim = released(steps, spec, Traffic(rps=100, bad_rate={}))
    v1 = sim.status.stable_revision
    sim.run(25)
    v2 = sim.status.stable_revision
    assert v2 == sim.revision
    return sim, v1, v2


def test_the_guard_runs_its_duration_of_measured_time() -> None:
    sim, v1, v2 = guarded_promotion()
    sim.run(10)
    outage(sim, 120)  # past the guard's end; the new stable goes bad meanwhile
    assert sim.status.phase is Phase.PROGRESSING, "the guard passed while nothing was measured"
    sim.traffic.bad_rate[v2] = 0.2
    sim.run(49)
    assert sim.status.stable_revision == v1
    last = sim.status.history[-1]
    assert (last.action, last.revision) == (HistoryAction.ROLLED_BACK, v2)
    assert "GuardFailed" in last.reason


def test_a_short_failed_look_only_delays_the_pause_by_its_own_length() -> None:
    sim = released(STEPS, SPEC, Traffic(rps=100, bad_rate={}))
    sim.run(30)
    outage(sim, 3)
    assert sim.status.step_unjudged_seconds == 0
    sim.run(2)
    assert 2 <= sim.status.step_unjudged_seconds <= 5
    sim.run(25)
    assert sim.status.stable_revision != sim.revision
    sim.run(6)
    assert sim.status.stable_revision == sim.revision


def test_after_a_time_with_no_controller_the_canary_is_measured_before_it_is_promoted() -> None:
    """The soak's case: no leader for 35 s across the end of the last pause; the new
    leader's first reconcile has no looks yet, and must not promote on old counts."""
    sim = released(STEPS, SPEC, Traffic(rps=4, bad_rate={}))
    sim.traffic.bad_rate[sim.revision] = 0.3
    sim.run(4)  # 8 canary requests judged: not enough
    sim.advance(70)  # nobody reconciles; Prometheus keeps counting
    sim.reconcile(measured=False)
    sim.pods_ready()
    assert sim.status.stable_revision != sim.revision, "promoted on counts 70 s old"
    assert "measuring first" in sim.status.message
    sim.reconcile()
    assert aborted(sim), sim.status.message


def test_the_guard_ends_only_after_judging_what_came_in_while_no_controller_looked() -> None:
    sim, v1, v2 = guarded_promotion()
    sim.traffic.bad_rate[v2] = 0.2
    sim.advance(90)  # past the guard's end, with no controller
    sim.reconcile(measured=False)
    assert sim.status.phase is Phase.PROGRESSING
    sim.reconcile()
    sim.pods_ready()
    sim.run(5)
    assert sim.status.stable_revision == v1


def test_a_guard_whose_first_look_fails_after_its_end_goes_on() -> None:
    """The CI kill-soak's case: promoted, then no leader for 35 s, then Prometheus down;
    the next leader's first look of the new stable failed 25 s past the guard's end, and
    the guard passed on it, having measured nothing (a late regression kept as stable)."""
    sim, v1, v2 = guarded_promotion()
    sim.traffic.bad_rate[v2] = 0.2
    sim.advance(65)  # past the guard's end, with no controller
    sim.traffic.error = "connection refused"
    sim.reconcile(measured=False)
    sim.reconcile()  # the first look of v2: it fails
    assert sim.status.phase is Phase.PROGRESSING, "the guard passed having measured nothing"
    outage(sim, 20)
    sim.run(30)
    assert sim.status.stable_revision == v1
    assert "GuardFailed" in sim.status.history[-1].reason


def test_a_guard_counts_the_time_since_its_last_good_look_as_unjudged() -> None:
    sim, _, v2 = guarded_promotion()
    sim.run(50)  # 50 of the guard's 60 s measured
    sim.advance(30)  # no controller, past its end
    sim.traffic.error = "connection refused"
    sim.reconcile(measured=False)
    sim.reconcile()
    assert sim.status.phase is Phase.PROGRESSING, "30 s that nobody measured counted as judged"
    outage(sim, 5)
    sim.run(8)
    assert sim.status.phase is Phase.PROGRESSING
    sim.run(5)
    assert phase(sim) is Phase.HEALTHY
    assert sim.status.stable_revision == v2
