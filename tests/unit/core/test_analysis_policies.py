"""Analysis policies in the step machine: threshold rules, noData, onError, analysis steps, guard.

Deterministic: the analysed sim (``tests.unit.core.analysed``) answers every look
from a traffic model with expected counts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.api.analysis import Analysis, Stage, Verdict
from controller.api.v1alpha1 import ConditionType, HistoryAction, Phase
from controller.core import analysis, rules
from controller.core.measurements import Measurement, Measurements
from controller.core.world import Verb
from controller.judge.sequential import Window
from tests.unit.core.analysed import COMPARISON, AnalysedSim, Traffic, aborted, phase, released
from tests.unit.core.sim import T0

# ------------------------------------------------------------------ threshold rules


def threshold(**rule: Any) -> dict[str, Any]:
    return {"metrics": [{"name": "p99", "threshold": {"query": "vector(1)", **rule}}]}


def test_a_threshold_rule_that_fails_aborts_with_its_counting() -> None:
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "60s"}}],
        threshold(success="< 0.5", failureLimit=2),
        Traffic(value=lambda _: 0.9),
    )
    sim.run(8)  # measurements at 0 s and 5 s
    assert not aborted(sim)  # two failures are tolerated (failureLimit 2)
    sim.run(6)
    assert aborted(sim)
    assert "AnalysisFailed" in sim.status.message
    assert "3 failed" in sim.status.message
    assert sim.rs_replicas(sim.revision) == 0


def test_a_passing_threshold_rule_promotes_after_the_steps() -> None:
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "20s"}}],
        threshold(success="< 0.5", count=3),
        Traffic(value=lambda _: 0.1),
    )
    sim.run(30)
    assert sim.status.stable_revision == sim.revision
    assert sim.status.phase is Phase.HEALTHY


def test_no_data_on_a_threshold_rule_holds_by_default_and_a_promote_overrides_it() -> None:
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        threshold(success="< 0.5"),
        Traffic(value=lambda _: None),
    )
    sim.run(60)
    assert sim.status.phase is Phase.PAUSED
    assert "AnalysisInconclusive" in [c.reason for c in sim.status.conditions]
    assert sim.status.stable_revision != sim.revision
    sim.request(Verb.PROMOTE, full=True, by="carol")
    sim.run(5)
    assert sim.status.stable_revision == sim.revision
    assert sim.status.analysis is not None


@pytest.mark.parametrize(("policy", "outcome"), [("fail", "aborted"), ("ignore", "promoted")])
def test_no_data_policy_of_a_threshold_rule(policy: str, outcome: str) -> None:
    spec = threshold(success="< 0.5")
    spec["metrics"][0]["noData"] = policy
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "10s"}}], spec, Traffic(value=lambda _: None)
    )
    sim.run(30)
    if outcome == "aborted":
        assert aborted(sim)
    else:
        assert sim.status.stable_revision == sim.revision


def test_a_nan_value_is_never_a_success() -> None:
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        threshold(success=">= 0", count=2),
        Traffic(value=lambda _: float("nan")),
    )
    sim.run(40)
    assert sim.status.stable_revision != sim.revision
    assert sim.status.analysis is not None
    assert sim.status.analysis.metrics[0].verdict == "Inconclusive"


# ------------------------------------------------------------------ comparison: noData, onError


@pytest.mark.parametrize(
    ("policy", "promoted", "degraded"),
    [("inconclusive", False, False), ("fail", False, True), ("ignore", True, False)],
)
def test_a_canary_that_served_nothing_is_settled_by_the_no_data_policy(
    policy: str, promoted: bool, degraded: bool
) -> None:
    spec = {"metrics": [{**COMPARISON, "noData": policy}]}
    sim = released([{"setWeight": 50}, {"pause": {"duration": "10s"}}], spec, Traffic(rps=0))
    sim.run(40)
    assert (sim.status.stable_revision == sim.revision) is promoted
    assert aborted(sim) is degraded
    if not promoted and not degraded:
        assert sim.status.phase is Phase.PAUSED
        assert "no data" in sim.status.message
        # Held at the promotion, the canary keeps the last step's traffic.
        assert sim.status.canary_weight == 50
        assert sim.rs_replicas(sim.revision) == 2


def test_on_error_fail_aborts_when_prometheus_stays_down() -> None:
    spec = {"metrics": [COMPARISON], "onError": "fail", "maxConsecutiveErrors": 2}
    sim = released([{"setWeight": 50}, {"pause": {}}], spec)
    sim.run(10)
    sim.traffic.error = "connection refused"
    sim.run(30)
    assert aborted(sim)
    assert "3 measurements failed in a row" in sim.status.message


# ------------------------------------------------------------------ analysis steps


def test_an_analysis_step_lets_a_good_canary_through_early() -> None:
    spec = {"metrics": [COMPARISON]}
    sim = released(
        [{"setWeight": 50}, {"analysis": {"maxDuration": "30m"}}, {"setWeight": 80}, {"pause": {}}],
        spec,
        Traffic(rps=200, bad_rate={}),
    )
    sim.run(5)
    assert sim.status.current_step_index == 1
    assert "waiting for the analysis" in sim.status.message
    sim.run(600)
    assert sim.status.current_step_index == 3  # passed the analysis step well before 30m
    assert sim.status.analysis is not None
    assert sim.status.analysis.metrics[0].verdict == "Pass"


def test_an_analysis_step_that_runs_out_of_time_holds_and_never_promotes() -> None:
    spec = {"metrics": [COMPARISON]}
    sim = released(
        [{"setWeight": 10}, {"analysis": {"maxDuration": "30s"}}],
        spec,
        Traffic(rps=2, bad_rate={}),
    )
    sim.run(120)
    assert sim.status.current_step_index == 1
    assert sim.status.phase is Phase.PAUSED
    assert "still undecided" in sim.status.message
    assert sim.status.stable_revision != sim.revision


def test_a_bad_canary_fails_at_an_analysis_step() -> None:
    sim = released(
        [{"setWeight": 50}, {"analysis": {}}],
        {"metrics": [COMPARISON]},
        Traffic(bad_rate={}),
    )
    sim.traffic.bad_rate[sim.revision] = 0.10
    sim.run(120)
    assert aborted(sim)


# ------------------------------------------------------------------ the guard


GUARDED = {"metrics": [COMPARISON], "guard": {"duration": "2m"}}


def promoted_with_guard(traffic: Traffic) -> tuple[AnalysedSim, str]:
    sim = released([{"setWeight": 50}, {"pause": {"duration": "60s"}}], GUARDED, traffic)
    v1 = sim.status.stable_revision
    assert v1 is not None
    sim.run(65)
    assert sim.status.stable_revision == sim.revision
    return sim, v1


def test_the_guard_runs_after_promotion_and_completes() -> None:
    sim, _ = promoted_with_guard(Traffic())
    assert phase(sim) is Phase.PROGRESSING
    assert "guarding" in sim.status.message
    completed = [c for c in sim.status.conditions if c.type is ConditionType.COMPLETED]
    assert completed[0].status == "False"
    sim.run(130)
    assert phase(sim) is Phase.HEALTHY
    assert sim.status.analysis is not None
    assert sim.status.analysis.completed
    assert sim.status.analysis.metrics[0].canary_requests > 0
    assert sim.status.stable_revision == sim.revision
    assert sim.last is not None
    assert sim.last.requeue_after is None or sim.last.requeue_after > 0


def test_a_regression_after_promotion_is_rolled_back_by_the_guard() -> None:
    sim, v1 = promoted_with_guard(Traffic())
    v2 = sim.status.stable_revision
    assert v2 is not None
    sim.traffic.bad_rate[v2] = 0.05  # 5x the baseline's 1 %
    sim.run(60)
    assert sim.status.stable_revision == v1
    assert sim.status.blocked_revision == v2
    assert sim.rs_replicas(v1) == 4
    assert sim.rs_replicas(v2) == 0
    last = sim.status.history[-1]
    assert last.action is HistoryAction.ROLLED_BACK
    assert last.by == "controller"
    assert "GuardFailed" in last.reason
    assert sim.status.phase is Phase.DEGRADED


def test_a_new_release_during_the_guard_ends_it() -> None:
    sim, _ = promoted_with_guard(Traffic())
    sim.set_image("web:v3")
    sim.run(5)
    assert sim.status.analysis is not None
    assert sim.status.analysis.stage == "Canary"
    assert sim.status.analysis.revision == sim.revision


# ------------------------------------------------------------------ after an abort


def aborted_third_release() -> tuple[AnalysedSim, str, str, str]:
    """v1 -> v2 promoted -> v3 aborted by the analysis."""
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "20s"}}]
    sim = released(steps, {"metrics": [COMPARISON]}, Traffic(bad_rate={}))
    v1 = sim.status.previous_stable_revision or sim.status.stable_revision
    sim.run(30)
    v2 = sim.revision
    assert sim.status.stable_revision == v2
    sim.set_image("web:v3")
    sim.traffic.bad_rate[sim.revision] = 0.2
    sim.run(30)
    assert aborted(sim)
    assert v1 is not None
    return sim, v1, v2, sim.revision


def test_a_rollback_after_an_abort_keeps_the_aborted_template_blocked() -> None:
    sim, v1, v2, v3 = aborted_third_release()
    sim.traffic.bad_rate[v3] = 0.01  # were v3 released again, it would now pass
    sim.request(Verb.ROLLBACK)
    sim.run(60)
    assert sim.status.stable_revision == v1
    assert sim.status.blocked_revision == v3
    assert sim.status.canary_revision is None
    assert sim.rs_replicas(v3) == 0
    assert sim.rs_replicas(v2) == 0
    assert sim.rs_replicas(v1) == 4


def test_a_retried_release_is_judged_afresh() -> None:
    sim, _, v2, v3 = aborted_third_release()
    sim.traffic.bad_rate[v3] = 0.01  # fixed by a config change outside the template
    sim.request(Verb.RETRY)
    sim.run(5)
    assert sim.status.canary_revision == v3
    assert sim.status.analysis is not None
    assert sim.status.analysis.metrics[0].verdict != "Fail"
    sim.run(40)
    assert sim.status.stable_revision == v3
    assert sim.status.previous_stable_revision == v2


def test_a_look_that_finds_nothing_delays_counts_but_never_loses_them() -> None:
    spec = Analysis.model_validate({"interval": "5s", "metrics": [COMPARISON]})
    current = analysis.begin(spec, None, revision="b", stage=Stage.CANARY, now=T0)

    def look(seconds: int, canary: float, stable: float) -> None:
        nonlocal current
        window = Window(canary_requests=canary, canary_bad=canary / 100,
                        stable_requests=stable, stable_bad=stable / 100)  # fmt: skip
        at = T0 + timedelta(seconds=seconds)
        measured = Measurements(
            revision="b", at=at, results=(Measurement(metric="errors", window=window),)
        )
        current = analysis.analyse(spec, current, measurements=measured, now=at).status

    look(5, 100, 400)
    look(10, 0, 0)  # a missed scrape: the query found nothing
    assert current.metrics[0].canary_requests == 100
    look(15, 300, 1200)  # cumulative again: everything since the start is there
    assert current.metrics[0].canary_requests == 300
    assert current.metrics[0].stable_requests == 1200
    look(20, 298, 1199)  # extrapolation dipped: nothing is taken back
    assert current.metrics[0].canary_requests == 300


def test_a_threshold_rule_that_fails_during_the_guard_rolls_back() -> None:
    spec = {**threshold(success="< 0.5"), "guard": {"duration": "2m"}}
    sim = released([{"setWeight": 50}, {"pause": {"duration": "20s"}}], spec)
    sim.traffic.value = lambda _: 0.1
    v1 = sim.status.stable_revision
    sim.run(25)
    v2 = sim.status.stable_revision
    assert v2 == sim.revision
    assert sim.status.analysis is not None
    assert sim.status.analysis.stage == "Guard"
    assert sim.status.analysis.metrics[0].measurements <= 1  # the guard counts afresh
    sim.traffic.value = lambda revision: 0.9 if revision == v2 else 0.1
    sim.run(30)
    assert sim.status.stable_revision == v1
    assert sim.status.blocked_revision == v2
    assert "GuardFailed" in sim.status.history[-1].reason


def test_metrics_share_alpha_so_a_release_keeps_its_false_rollback_rate() -> None:
    """Bonferroni: with k comparisons each fails at 1/(alpha/k), not at 1/alpha."""
    second = {**COMPARISON, "name": "errors2"}
    one = Analysis.model_validate({"interval": "5s", "alpha": 0.01, "metrics": [COMPARISON]})
    two = Analysis.model_validate(
        {"interval": "5s", "alpha": 0.01, "metrics": [COMPARISON, second]}
    )
    assert rules.comparison_config(one).alpha == 0.01
    assert rules.comparison_config(two).alpha == 0.005

    def failed_at(spec: Analysis) -> tuple[int, float]:
        """The look at which "errors" fails on a canary at 3 % vs 1 %, and its evidence."""
        current = analysis.begin(spec, None, revision="b", stage=Stage.CANARY, now=T0)
        for n in range(1, 400):
            window = Window(canary_requests=50.0 * n, canary_bad=1.5 * n,
                            stable_requests=50.0 * n, stable_bad=0.5 * n)  # fmt: skip
            at = T0 + timedelta(seconds=5 * n)
            results = tuple(Measurement(metric=m.name, window=window) for m in spec.metrics)
            looked = Measurements(revision="b", at=at, results=results)
            current = analysis.analyse(spec, current, measurements=looked, now=at).status
            metric = current.metrics[0]
            if metric.verdict == Verdict.FAIL:
                return n, metric.evidence
        raise AssertionError("never failed")

    alone, alone_evidence = failed_at(one)
    shared, shared_evidence = failed_at(two)
    assert alone_evidence >= 100
    assert shared_evidence >= 200
    assert shared > alone  # the same counts need more evidence with two metrics
