"""The feature-flag kill switch in the pure core, scenario by scenario, on the sim.

The sim's fake flag provider answers at once, fails the next N calls, or hangs;
its answers are folded into the status in the same reconcile, as the reconciler
does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller.api.analysis import Analysis, AnalysisStatus, MetricStatus, Stage
from controller.api.flags import FlagState
from controller.api.reasons import EventReason
from controller.api.v1alpha1 import ConditionType, HistoryAction, Phase
from controller.core import analysis, flags
from controller.core.actions import FlagAction, RestoreFlag, SetCanaryWeight, SwitchFlagOff
from controller.core.measurements import Measurement, Measurements
from controller.core.world import Verb
from controller.judge.sequential import Window
from tests.unit.core.analysed import COMPARISON, AnalysedSim, Traffic, aborted, released
from tests.unit.core.sim import T0, Sim

STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]


def flag(name: str, **more: Any) -> dict[str, Any]:
    target = {"featureFlag": "checkout-flags", "flag": name, "offVariant": "off"}
    return {"name": name, "openFeature": target, **more}


def in_canary(*flag_specs: dict[str, Any], on_anomaly: str | None = None) -> Sim:
    """A canary of web:v2 at 50 %, waiting for promote, with the given flags."""
    sim = Sim(steps=STEPS, feature_flags=list(flag_specs), on_anomaly=on_anomaly)
    sim.settle()
    sim.set_image("web:v2")
    sim.settle(rounds=2)
    assert sim.status.canary_weight == 50
    return sim


def pending(sim: Sim) -> str:
    return next(c.status for c in sim.status.conditions if c.type is ConditionType.FLAGS_PENDING)


def entry(sim: Sim, name: str) -> Any:
    return next(e for e in sim.status.feature_flags if e.name == name)


def flag_actions(sim: Sim) -> list[FlagAction]:
    assert sim.last is not None
    return [a for a in sim.last.actions if isinstance(a, SwitchFlagOff | RestoreFlag)]


def test_an_abort_moves_traffic_to_the_stable_first_then_switches_the_flags_off() -> None:
    sim = in_canary(flag("new-checkout"), flag("fast-search"))
    stable = sim.status.stable_revision

    sim.request(Verb.ABORT)
    decision = sim.reconcile()

    kinds = [type(a) for a in decision.actions]
    assert kinds.index(SetCanaryWeight) < kinds.index(SwitchFlagOff)
    assert all(k in (SwitchFlagOff, RestoreFlag) for k in kinds[kinds.index(SwitchFlagOff) :])
    assert sim.rs_replicas(stable) == 3
    assert sim.status.canary_weight == 0
    assert sim.flag_provider.states == {"new-checkout": FlagState.OFF, "fast-search": FlagState.OFF}
    assert entry(sim, "new-checkout").state is FlagState.OFF
    assert entry(sim, "new-checkout").previous == '{"defaultVariant": "on"}'
    assert "AbortedByUser" in entry(sim, "new-checkout").reason
    assert pending(sim) == "False"
    reasons = [e.reason for e in decision.events]
    assert reasons.count(EventReason.FLAG_SWITCHED_OFF) == 2

    calls = len(sim.flag_provider.calls)
    sim.advance(600)
    again = sim.reconcile()
    assert len(sim.flag_provider.calls) == calls  # confirmed: never asked again
    assert not again.events


def test_a_failing_provider_never_delays_the_rollback_and_is_retried_with_backoff() -> None:
    sim = in_canary(flag("new-checkout"))
    canary = sim.status.canary_revision
    sim.flag_provider.failing["new-checkout"] = 2

    sim.request(Verb.ABORT)
    decision = sim.reconcile()
    assert sim.status.canary_weight == 0
    assert sim.rs_replicas(canary) == 0
    assert sim.status.phase is Phase.DEGRADED
    assert pending(sim) == "True"
    message = next(
        c.message for c in sim.status.conditions if c.type is ConditionType.FLAGS_PENDING
    )
    assert message == "new-checkout: Off not confirmed after 1 failed attempt: connection refused"
    warnings = [e for e in decision.events if e.reason is EventReason.FLAGS_PENDING]
    assert len(warnings) == 1
    assert decision.requeue_after == 1

    sim.advance(0.5)
    sim.reconcile()  # backing off: the provider is not asked
    assert len(sim.flag_provider.calls) == 1
    assert sim.last is not None
    assert sim.last.requeue_after == 0.5

    sim.advance(0.5)
    second = sim.reconcile()
    assert entry(sim, "new-checkout").attempts == 2
    assert second.requeue_after == 2
    assert not [e for e in second.events if e.reason is EventReason.FLAGS_PENDING]  # once

    sim.advance(2)
    sim.reconcile()
    assert entry(sim, "new-checkout").state is FlagState.OFF
    assert entry(sim, "new-checkout").attempts == 0
    assert pending(sim) == "False"


def test_a_hanging_provider_keeps_flags_pending_until_it_answers() -> None:
    sim = in_canary(flag("new-checkout"))
    sim.flag_provider.hanging.add("new-checkout")
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert pending(sim) == "True"
    assert "no answer" in entry(sim, "new-checkout").last_error

    for _ in range(10):  # every retry, later and later
        sim.advance(300)
        sim.reconcile()
    assert entry(sim, "new-checkout").attempts == 11
    assert sim.last is not None
    assert sim.last.requeue_after == flags.RETRY_CAP_SECONDS

    sim.flag_provider.hanging.clear()
    sim.advance(300)
    sim.reconcile()
    assert pending(sim) == "False"
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF


def test_retry_restores_the_flags_and_keep_flags_off_leaves_them() -> None:
    sim = in_canary(flag("new-checkout"))
    sim.request(Verb.ABORT)
    sim.reconcile()
    sim.request(Verb.RETRY, keep_flags_off=True)
    sim.reconcile()
    assert sim.status.canary_revision == sim.revision
    assert entry(sim, "new-checkout").wanted is FlagState.OFF
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF

    sim.request(Verb.ABORT)
    sim.reconcile()
    sim.request(Verb.RETRY, by="bob")
    sim.reconcile()
    restored = entry(sim, "new-checkout")
    assert restored.state is restored.wanted is FlagState.RESTORED
    assert restored.by == "bob"
    assert restored.previous == ""
    assert sim.flag_provider.states == {"new-checkout": FlagState.RESTORED}
    assert pending(sim) == "False"


def test_on_anomaly_rollback_leaves_flags_alone_on_abort_but_disable_on_still_rules_rollbacks() -> (
    None
):
    sim = in_canary(flag("new-checkout"), on_anomaly="Rollback")
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert sim.status.feature_flags == []
    assert not sim.flag_provider.calls
    assert pending(sim) == "False"

    sim.set_image("web:v3")  # a new release, promoted: then a person rolls it back
    sim.settle(rounds=2)
    sim.request(Verb.PROMOTE, full=True)
    sim.settle(rounds=2)
    assert sim.status.stable_revision == sim.revision
    sim.request(Verb.ROLLBACK)
    sim.reconcile()
    assert entry(sim, "new-checkout").state is FlagState.OFF
    assert entry(sim, "new-checkout").reason.startswith("Rollback: ")


def test_disable_on_picks_the_flags_each_event_switches() -> None:
    sim = in_canary(flag("a", disableOn=["GuardFailure"]), flag("b", disableOn=["Abort"]))
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert [e.name for e in sim.status.feature_flags] == ["b"]
    assert sim.flag_provider.states == {"b": FlagState.OFF}


def test_a_lost_status_write_after_the_switch_is_repaired_by_the_next_reconcile() -> None:
    sim = in_canary(flag("new-checkout"))
    sim.request(Verb.ABORT)
    sim.reconcile(write_status=False)  # the controller died before writing the status
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF
    assert sim.status.feature_flags == []

    sim.reconcile()  # a new leader decides the same, and the provider confirms again
    assert entry(sim, "new-checkout").state is FlagState.OFF
    assert sim.status.history[-1].action is HistoryAction.ABORTED


def test_a_flag_removed_from_the_spec_is_left_as_it_is_with_a_warning() -> None:
    sim = in_canary(flag("new-checkout"), flag("other"))
    sim.request(Verb.ABORT)
    sim.reconcile()
    sim.feature_flags = sim.feature_flags[1:]
    decision = sim.reconcile()
    assert [e.name for e in sim.status.feature_flags] == ["other"]
    dropped = [e for e in decision.events if e.reason is EventReason.FLAG_DROPPED]
    assert "new-checkout" in dropped[0].message
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF


def test_without_flags_there_is_no_flags_pending_condition() -> None:
    sim = in_canary()
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert ConditionType.FLAGS_PENDING not in [c.type for c in sim.status.conditions]


# ------------------------------------------------------------ with the analysis

SPEC = {"metrics": [COMPARISON]}
ANALYSED_STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "10m"}}]


def failing_canary(on_anomaly: str | None, bad_rate: float = 0.3) -> AnalysedSim:
    sim = released(
        ANALYSED_STEPS,
        SPEC,
        Traffic(rps=100, bad_rate={}),
        feature_flags=[flag("new-checkout")],
        on_anomaly=on_anomaly,
    )
    sim.traffic.bad_rate[sim.revision] = bad_rate
    return sim


def test_a_failed_analysis_aborts_and_switches_the_flags_off_by_default() -> None:
    sim = failing_canary(None)
    sim.run(60)
    assert aborted(sim)
    assert "AnalysisFailed" in entry(sim, "new-checkout").reason
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF


def test_disable_flags_keeps_the_canary_and_judges_it_again_with_the_flags_off() -> None:
    sim = failing_canary("DisableFlags")
    for _ in range(120):
        sim.run(1)
        assert not aborted(sim)
        if sim.status.analysis is not None and sim.status.analysis.flags_off_at is not None:
            break
    restarted = sim.status.analysis
    assert restarted is not None
    assert restarted.flags_off_at == sim.now
    # Counted from when the apps can have seen it (flagPropagation, 15s by default).
    assert restarted.started_at == sim.now + timedelta(seconds=15)
    assert all(m.canary_requests == 0 for m in restarted.metrics)  # judged from zero
    assert sim.status.canary_weight == 50  # the canary keeps its traffic
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF
    last = sim.status.history[-1]
    assert last.action is HistoryAction.FLAGS_DISABLED
    assert "switched off new-checkout" in last.reason

    sim.run(12)  # the apps still see the flag on: not held against the canary
    assert not aborted(sim)
    sim.traffic.bad_rate[sim.revision] = 0.01  # the flag was the culprit
    sim.run(60)
    assert not aborted(sim)
    assert sim.status.canary_weight == 50
    assert entry(sim, "new-checkout").wanted is FlagState.OFF  # promotion keeps it off


def test_disable_flags_aborts_when_the_canary_fails_again_with_the_flags_off() -> None:
    sim = failing_canary("DisableFlags")
    sim.run(120)
    assert aborted(sim)
    actions = [h.action for h in sim.status.history]
    assert actions[-2:] == [HistoryAction.FLAGS_DISABLED, HistoryAction.ABORTED]
    assert sim.flag_provider.states["new-checkout"] is FlagState.OFF


def test_looks_of_an_analysis_that_started_over_are_not_folded_into_the_new_one() -> None:
    spec = Analysis.model_validate(SPEC)
    fresh = AnalysisStatus(
        revision="v2", stage=Stage.CANARY, started_at=T0, metrics=[MetricStatus(name="errors")]
    )
    old_look = Measurements(
        revision="v2",
        at=T0,
        started_at=T0.replace(year=2025),
        results=(
            Measurement(
                metric="errors",
                window=Window(
                    canary_requests=100, canary_bad=30, stable_requests=100, stable_bad=1
                ),
            ),
        ),
    )
    outcome = analysis.analyse(spec, fresh, measurements=old_look, now=T0)
    assert outcome.status.metrics[0].canary_requests == 0
    assert not outcome.failed


def test_a_guard_failure_rolls_back_and_switches_the_flags_naming_it_off() -> None:
    sim = released(
        [{"setWeight": 50}, {"pause": {"duration": "60s"}}],
        {"metrics": [COMPARISON], "guard": {"duration": "2m"}},
        Traffic(),
        feature_flags=[flag("new-checkout", disableOn=["GuardFailure"]), flag("other")],
        on_anomaly="Rollback",
    )
    v1 = sim.status.stable_revision
    sim.run(65)
    v2 = sim.status.stable_revision
    assert v2 == sim.revision != v1
    assert sim.status.feature_flags == []

    sim.traffic.bad_rate[v2] = 0.05  # regresses after promotion
    sim.run(60)
    assert sim.status.stable_revision == v1
    assert [e.name for e in sim.status.feature_flags] == ["new-checkout", "other"]
    assert all(e.state is FlagState.OFF for e in sim.status.feature_flags)
    assert entry(sim, "new-checkout").reason.startswith(f"GuardFailure: {v2}: ")
