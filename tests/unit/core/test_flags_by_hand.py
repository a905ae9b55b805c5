"""The kill switch by hand (``flags-off`` / ``flags-restore`` requests) in the pure core.

A person's flags-off switches flags off in every phase of a release and changes
nothing else about it: each scenario runs a twin of the sim without the request
and compares everything but the flags.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from controller.api.flags import FlagState
from controller.api.reasons import EventReason, EventType
from controller.api.v1alpha1 import ConditionType, HistoryAction, Phase, RolloutStatus
from controller.core.actions import Decision, RestoreFlag, SwitchFlagOff
from controller.core.world import Verb
from tests.unit.core.analysed import COMPARISON, AnalysedSim, Traffic, aborted, released
from tests.unit.core.sim import Sim
from tests.unit.core.test_flags import STEPS, entry, flag, in_canary, pending

FLAGS = [flag("new-checkout"), flag("fast-search", disableOn=["GuardFailure"])]
BOTH = {"new-checkout": FlagState.OFF, "fast-search": FlagState.OFF}


def healthy() -> Sim:
    sim = Sim(steps=STEPS, feature_flags=FLAGS)
    sim.settle()
    return sim


def canary_scaling() -> Sim:
    """Mid-step: the canary's pods for its 50 % are not available yet."""
    sim = healthy()
    sim.set_image("web:v2")
    sim.reconcile()
    assert sim.status.phase is Phase.PROGRESSING
    return sim


def waiting_for_promote() -> Sim:
    return in_canary(*FLAGS)


def paused_by_user() -> Sim:
    sim = in_canary(*FLAGS)
    sim.paused = True
    sim.reconcile()
    return sim


def aborted_release() -> Sim:
    sim = in_canary(*FLAGS, on_anomaly="Rollback")  # an abort leaves the flags alone
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert sim.status.phase is Phase.DEGRADED
    assert not sim.status.feature_flags
    return sim


def rolling_back() -> Sim:
    sim = in_canary(*FLAGS, on_anomaly="Rollback")
    sim.request(Verb.PROMOTE, full=True)
    sim.settle(rounds=2)
    sim.advance(1)
    sim.request(Verb.ROLLBACK)
    sim.reconcile()
    assert sim.status.rolling_back_to is not None
    return sim


def release_only(status: RolloutStatus) -> dict[str, Any]:
    """Everything in the status but the flags, the history and the handled requests."""
    data = status.model_dump(mode="json")
    for key in ("feature_flags", "history", "handled_requests"):
        data.pop(key)
    data["conditions"] = [c for c in data["conditions"] if c["type"] != "FlagsPending"]
    return data


def not_about_flags(decision: Decision) -> tuple[list[Any], list[Any]]:
    actions = [a for a in decision.actions if not isinstance(a, SwitchFlagOff | RestoreFlag)]
    flag_reasons = (
        HistoryAction.FLAGS_OFF_BY_HAND,
        EventReason.FLAG_SWITCHED_OFF,
        EventReason.FLAGS_PENDING,
    )
    events = [e for e in decision.events if e.reason not in flag_reasons]
    return actions, events


def last(sim: Sim) -> Decision:
    assert sim.last is not None
    return sim.last


@pytest.mark.parametrize(
    "given",
    [healthy, canary_scaling, waiting_for_promote, paused_by_user, aborted_release, rolling_back],
)
def test_flags_off_switches_every_flag_off_in_any_phase_and_leaves_the_release_alone(
    given: Callable[[], Sim],
) -> None:
    sim = given()
    twin = copy.deepcopy(sim)

    sim.request(Verb.FLAGS_OFF, by="bob", reason="checkout errors")
    decision = sim.reconcile()
    expected = twin.reconcile()

    assert release_only(sim.status) == release_only(twin.status)
    assert not_about_flags(decision) == not_about_flags(expected)
    assert sim.replica_sets == twin.replica_sets
    assert sim.weights == twin.weights
    assert sim.flag_provider.states == BOTH  # fast-search too: disableOn does not apply
    for name in BOTH:
        assert (entry(sim, name).reason, entry(sim, name).by) == ("Manual: checkout errors", "bob")
    recorded = sim.status.history[-1]
    assert (recorded.action, recorded.by) == (HistoryAction.FLAGS_OFF_BY_HAND, "bob")
    assert recorded.reason == (
        "Switched off new-checkout, fast-search: checkout errors "
        "(off until `landinggear flags restore`; the release is left as it is)"
    )
    assert [e.type for e in decision.events if e.reason is HistoryAction.FLAGS_OFF_BY_HAND] == [
        EventType.WARNING
    ]
    assert pending(sim) == "False"


def test_flags_off_names_some_flags_and_the_canary_goes_on() -> None:
    sim = in_canary(*FLAGS)
    sim.request(Verb.FLAGS_OFF, flags=("fast-search",))
    sim.reconcile()
    assert sim.flag_provider.states == {"fast-search": FlagState.OFF}
    assert [e.name for e in sim.status.feature_flags] == ["fast-search"]

    sim.request(Verb.PROMOTE, full=True)
    sim.settle(rounds=2)
    assert sim.status.stable_revision == sim.revision
    assert entry(sim, "fast-search").wanted is FlagState.OFF  # a promotion leaves it off


def test_flags_restore_puts_back_what_is_off_and_nothing_else() -> None:
    sim = healthy()
    sim.request(Verb.FLAGS_OFF, flags=("new-checkout",))
    sim.reconcile()
    sim.advance(1)
    sim.request(Verb.FLAGS_RESTORE, by="carol", reason="fixed in v3")
    decision = sim.reconcile()

    restored = entry(sim, "new-checkout")
    assert restored.state is restored.wanted is FlagState.RESTORED
    assert (restored.reason, restored.by) == ("Restore by carol: fixed in v3", "carol")
    assert [e.name for e in sim.status.feature_flags] == ["new-checkout"]  # not fast-search
    assert sim.flag_provider.states == {"new-checkout": FlagState.RESTORED}
    history = sim.status.history[-1]
    assert (history.action, history.reason) == (
        HistoryAction.FLAGS_RESTORED_BY_HAND,
        "Restored new-checkout: fixed in v3",
    )
    assert EventReason.FLAG_RESTORED in [e.reason for e in decision.events]


def test_a_restore_with_nothing_off_changes_nothing_and_says_so() -> None:
    sim = healthy()
    before = len(sim.status.history)
    sim.request(Verb.FLAGS_RESTORE)
    decision = sim.reconcile()
    assert sim.status.feature_flags == []
    assert len(sim.status.history) == before
    (event,) = decision.events
    assert (event.type, event.reason) == (EventType.NORMAL, EventReason.REQUEST_IGNORED)
    assert "new-checkout, fast-search not switched off" in event.message


def test_unknown_flags_are_named_in_a_warning_and_the_known_ones_switched() -> None:
    sim = healthy()
    sim.request(Verb.FLAGS_OFF, flags=("nope", "new-checkout", "gone"))
    decision = sim.reconcile()

    assert sim.flag_provider.states == {"new-checkout": FlagState.OFF}
    (warning,) = [e for e in decision.events if e.reason is EventReason.UNKNOWN_FLAGS]
    assert warning.type is EventType.WARNING
    assert warning.message == (
        "flags-off by alice: no flag named nope, gone in spec.featureFlags "
        "(declared: new-checkout, fast-search); ignored"
    )
    again = sim.reconcile()
    assert not again.events  # consumed: acted on once


def test_a_request_naming_only_unknown_flags_is_consumed_and_changes_nothing() -> None:
    sim = healthy()
    before = sim.status
    sim.request(Verb.FLAGS_RESTORE, flags=("nope",))
    decision = sim.reconcile()
    assert [e.reason for e in decision.events] == [EventReason.UNKNOWN_FLAGS]
    assert sim.status.feature_flags == []
    assert sim.status.history == before.history
    assert sim.status.handled_requests.keys() == {"flags-restore"}
    assert not sim.reconcile().events


def test_a_rollout_without_flags_ignores_the_request_with_a_warning() -> None:
    sim = Sim(steps=STEPS)
    sim.settle()
    sim.request(Verb.FLAGS_OFF)
    (event,) = sim.reconcile().events
    assert (event.type, event.reason) == (EventType.WARNING, EventReason.REQUEST_IGNORED)
    assert event.message == "flags-off by alice: the Rollout declares no feature flags"
    assert ConditionType.FLAGS_PENDING not in [c.type for c in sim.status.conditions]


def test_each_request_is_acted_on_once_even_after_the_flags_are_restored() -> None:
    sim = healthy()
    sim.request(Verb.FLAGS_OFF)
    sim.reconcile()
    sim.reconcile()
    assert [h.action for h in sim.status.history].count(HistoryAction.FLAGS_OFF_BY_HAND) == 1
    sim.advance(1)
    sim.request(Verb.FLAGS_RESTORE)
    sim.reconcile()
    for _ in range(3):  # the flags-off annotation is still there: not acted on again
        sim.advance(60)
        sim.reconcile()
    assert sim.flag_provider.states == dict.fromkeys(BOTH, FlagState.RESTORED)


def test_a_lost_status_write_acts_on_the_request_again_with_the_same_outcome() -> None:
    sim = healthy()
    sim.request(Verb.FLAGS_OFF)
    sim.reconcile(write_status=False)
    assert sim.status.feature_flags == []
    sim.reconcile()
    assert all(e.state is FlagState.OFF for e in sim.status.feature_flags)
    assert [h.action for h in sim.status.history].count(HistoryAction.FLAGS_OFF_BY_HAND) == 1


def test_repeating_flags_off_on_flags_already_off_by_hand_is_ignored() -> None:
    sim = healthy()
    sim.request(Verb.FLAGS_OFF, reason="first")
    sim.reconcile()
    sim.advance(1)
    sim.request(Verb.FLAGS_OFF, reason="second", by="bob")
    decision = sim.reconcile()
    assert [e.reason for e in decision.events] == [EventReason.REQUEST_IGNORED]
    assert entry(sim, "new-checkout").reason == "Manual: first"


def test_a_failing_provider_neither_aborts_nor_holds_the_canary() -> None:
    sim = in_canary(*FLAGS)
    sim.flag_provider.hanging.add("new-checkout")
    sim.request(Verb.FLAGS_OFF)
    sim.reconcile()
    assert pending(sim) == "True"
    sim.request(Verb.PROMOTE, full=True)
    sim.settle(rounds=2)
    assert sim.status.stable_revision == sim.revision
    assert sim.status.phase is Phase.HEALTHY


# ------------------------------------------------------------ with retry and aborts


def test_retry_restores_what_the_abort_switched_off_but_not_what_a_person_did() -> None:
    sim = in_canary(flag("new-checkout"), flag("fast-search"), flag("recs"))
    sim.request(Verb.FLAGS_OFF, flags=("recs",), reason="recs broken")
    sim.reconcile()
    sim.advance(1)
    sim.request(Verb.ABORT)
    sim.reconcile()
    assert entry(sim, "recs").reason == "Manual: recs broken"  # the abort left it the person's
    everything = ("new-checkout", "fast-search", "recs")
    assert sim.flag_provider.states == dict.fromkeys(everything, FlagState.OFF)
    sim.advance(1)
    sim.request(Verb.RETRY, by="bob")
    sim.reconcile()

    assert sim.flag_provider.states == {
        "new-checkout": FlagState.RESTORED,
        "fast-search": FlagState.RESTORED,
        "recs": FlagState.OFF,
    }
    retried = next(h for h in reversed(sim.status.history) if h.action is HistoryAction.RETRIED)
    assert retried.reason == "Retry; recs switched off by hand stay off"


def test_switching_off_by_hand_what_an_abort_switched_off_keeps_it_off_through_retry() -> None:
    sim = in_canary(*FLAGS)
    sim.flag_provider.failing["new-checkout"] = 1
    sim.request(Verb.ABORT)
    sim.reconcile()
    attempts = entry(sim, "new-checkout").attempts
    sim.request(Verb.FLAGS_OFF, flags=("new-checkout",), by="bob")
    sim.reconcile()  # backing off: its attempts and backoff go on unchanged
    taken = entry(sim, "new-checkout")
    assert (taken.reason, taken.by, taken.attempts) == ("Manual: switched off by bob", "bob",
                                                        attempts)  # fmt: skip
    sim.advance(5)
    sim.request(Verb.RETRY, keep_flags_off=False)
    sim.reconcile()
    assert sim.flag_provider.states == {"new-checkout": FlagState.OFF}
    sim.advance(1)
    sim.request(Verb.FLAGS_RESTORE)
    sim.reconcile()
    assert sim.flag_provider.states == {"new-checkout": FlagState.RESTORED}


def test_retry_keep_flags_off_keeps_everything_off() -> None:
    sim = in_canary(flag("new-checkout"), flag("recs"))
    sim.request(Verb.FLAGS_OFF, flags=("recs",))
    sim.reconcile()
    sim.advance(1)
    sim.request(Verb.ABORT)
    sim.reconcile()
    sim.advance(1)
    sim.request(Verb.RETRY, keep_flags_off=True)
    sim.reconcile()
    assert sim.flag_provider.states == {"new-checkout": FlagState.OFF, "recs": FlagState.OFF}
    retried = next(h for h in reversed(sim.status.history) if h.action is HistoryAction.RETRIED)
    assert retried.reason == "Retry; feature flags kept off"


# ------------------------------------------------------------ with onAnomaly: DisableFlags

ANALYSED_STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "10m"}}]


def disable_flags_canary(**fields: Any) -> AnalysedSim:
    return released(
        ANALYSED_STEPS,
        {"metrics": [COMPARISON]},
        Traffic(rps=100, bad_rate={}),
        feature_flags=[flag("new-checkout")],
        on_anomaly="DisableFlags",
        **fields,
    )


def test_a_switch_by_hand_never_restarts_the_analysis_and_keeps_the_second_chance() -> None:
    sim = disable_flags_canary()
    sim.run(5)
    judged = sim.status.analysis
    assert judged is not None
    assert judged.flags_off_at is None
    sim.request(Verb.FLAGS_OFF)
    sim.reconcile()
    assert sim.status.analysis == judged  # no restart, no flagsOffAt
    assert sim.status.canary_weight == 50
    assert not aborted(sim)

    sim.traffic.bad_rate[sim.revision] = 0.3  # it fails on what was judged with the flag on
    for _ in range(120):
        sim.run(1)
        assert not aborted(sim)
        analysis = sim.status.analysis
        if analysis is not None and analysis.flags_off_at is not None:
            break
    last_entry = sim.status.history[-1]
    assert last_entry.action is HistoryAction.FLAGS_DISABLED
    assert "new-checkout switched off since the analysis started" in last_entry.reason
    assert entry(sim, "new-checkout").reason.startswith("Manual: ")  # still the person's

    sim.run(120)  # failing again with the flag off: abort as usual
    assert aborted(sim)
    assert [h.action for h in sim.status.history][-2:] == [
        HistoryAction.FLAGS_DISABLED,
        HistoryAction.ABORTED,
    ]


def test_a_canary_judged_with_the_flags_off_by_hand_all_along_is_aborted_at_once() -> None:
    sim = AnalysedSim(
        steps=ANALYSED_STEPS,
        replicas=4,
        analysis_spec={"interval": "5s", "metrics": [COMPARISON]},
        traffic=Traffic(rps=100, bad_rate={}),
        feature_flags=[flag("new-checkout")],
        on_anomaly="DisableFlags",
    )
    sim.settle()
    sim.request(Verb.FLAGS_OFF)
    sim.reconcile()
    sim.advance(1)
    sim.set_image("web:v2")
    sim.reconcile()
    sim.pods_ready()
    sim.traffic.bad_rate[sim.revision] = 0.3
    sim.run(120)
    assert aborted(sim)
    assert HistoryAction.FLAGS_DISABLED not in [h.action for h in sim.status.history]
