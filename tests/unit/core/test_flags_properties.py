"""Properties of the kill switch over arbitrary event sequences with a flaky flag provider.

Events: reconciles, pods becoming Ready, time passing, new templates, user
requests (abort, rollback, promote, retry with or without ``--keep-flags-off``,
flags-off and flags-restore naming some flags, declared or not, or none), the
provider starting to fail or hang or coming back, and reconciles whose status
write is lost. After every written reconcile:
- an abort recorded in it has the stable serving in full and the canary's
  traffic at zero in that same reconcile, whatever the provider does;
- ``FlagsPending`` is True exactly while some flag's wanted state is unconfirmed;
- a flag is asked for only after its backoff since the last failed attempt, unless
  it was wanted anew since (a new wanted state is tried at once);
and once the provider answers again and time passes, every wanted state is
confirmed: the flags an abort or a person switched off are Off, those a retry
(all but the ones switched off by hand) or a person restored are Restored, the
provider holds what the status says, and one more reconcile changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from controller.api.flags import FlagState
from controller.api.v1alpha1 import ConditionType, HistoryAction, HistoryEntry, RolloutStatus
from controller.core import flags
from controller.core.actions import RestoreFlag, SwitchFlagOff
from controller.core.world import Request, Verb, parse_requests
from tests.unit.core.sim import Sim

NAMES = ("new-checkout", "fast-search", "recs")

flag_strategy = s.tuples(
    s.sampled_from(NAMES),
    s.lists(s.sampled_from(["Abort", "Rollback", "GuardFailure"]), min_size=1, unique=True),
)
flags_strategy = s.lists(flag_strategy, min_size=1, max_size=3, unique_by=lambda f: f[0])

_VALUES: dict[str, s.SearchStrategy[Any]] = {
    "reconcile": s.just(0),
    "ready": s.just(0),
    "advance": s.sampled_from([0.5, 1, 2, 5, 30, 400]),
    "image": s.sampled_from(["web:v1", "web:v2", "web:v3"]),
    "request": s.sampled_from([Verb.ABORT, Verb.ROLLBACK, Verb.PROMOTE, Verb.RETRY]),
    "retry_keep": s.just(0),
    "flags": s.tuples(
        s.sampled_from([Verb.FLAGS_OFF, Verb.FLAGS_RESTORE]),
        s.lists(s.sampled_from(NAMES), max_size=2, unique=True),
    ),
    "fail": s.tuples(s.sampled_from(NAMES), s.integers(1, 4)),
    "hang": s.sampled_from(NAMES),
    "answer": s.just(0),
    "crash": s.just(0),
}
_KINDS = [
    *["reconcile"] * 6, *["ready"] * 3, *["advance"] * 2, *["request"] * 2, *["flags"] * 2,
    *_VALUES,
]  # fmt: skip
event_strategy = s.sampled_from(_KINDS).flatmap(lambda kind: s.tuples(s.just(kind), _VALUES[kind]))


REWANTING = {
    HistoryAction.ABORTED,
    HistoryAction.ROLLED_BACK,
    HistoryAction.RETRIED,
    HistoryAction.FLAGS_OFF_BY_HAND,
    HistoryAction.FLAGS_RESTORED_BY_HAND,
}
"""History entries of events that may want a flag anew."""


def flags_pending(status: RolloutStatus) -> bool:
    condition = next(c for c in status.conditions if c.type is ConditionType.FLAGS_PENDING)
    return condition.status == "True"


def added(prior: list[HistoryEntry], now: list[HistoryEntry]) -> list[HistoryEntry]:
    """The entries a reconcile appended (the oldest may have been dropped at the limit)."""
    for dropped in range(len(prior) + 1):
        kept = prior[dropped:]
        if now[: len(kept)] == kept:
            return now[len(kept) :]
    raise AssertionError("the history was rewritten")


@dataclass
class Expected:
    """What the flags should be wanted as, from what happened (the history)."""

    disable_on: dict[str, list[str]]
    want: dict[str, FlagState] = field(default_factory=dict)
    by_hand: set[str] = field(default_factory=set)

    def track(self, new: list[HistoryEntry], requests: dict[Verb, Request]) -> None:
        """The history entries ``new``, appended by a reconcile of ``requests``: an abort
        (onAnomaly's default with flags, RollbackAndDisableFlags) or a rollback switches
        off the flags naming it; a retry restores every flag that is off unless it kept
        them off, except those switched off by hand; a person's flags-off switches the
        declared flags it names off (by hand), a flags-restore restores those off."""
        for h in new:
            if h.action is HistoryAction.RETRIED and "kept off" not in h.reason:
                for name, state in self.want.items():
                    if state is FlagState.OFF and name not in self.by_hand:
                        self.want[name] = FlagState.RESTORED
            elif h.action is HistoryAction.FLAGS_OFF_BY_HAND:
                for name in self.named(requests[Verb.FLAGS_OFF]):
                    self.want[name] = FlagState.OFF
                    self.by_hand.add(name)
            elif h.action is HistoryAction.FLAGS_RESTORED_BY_HAND:
                for name in self.named(requests[Verb.FLAGS_RESTORE]):
                    if self.want.get(name) is FlagState.OFF:
                        self.want[name] = FlagState.RESTORED
                        self.by_hand.discard(name)
            trigger = {HistoryAction.ABORTED: "Abort", HistoryAction.ROLLED_BACK: "Rollback"}.get(
                h.action
            )
            for name, triggers in self.disable_on.items():
                if trigger in triggers:
                    self.want[name] = FlagState.OFF

    def named(self, request: Request) -> list[str]:
        return [n for n in self.disable_on if not request.flags or n in request.flags]


def check_reconcile(
    sim: Sim, prior: RolloutStatus, calls_before: int, expected: Expected,
    requests: dict[Verb, Request],
) -> None:  # fmt: skip
    status = sim.status
    new = added(prior.history, status.history)
    assert sim.last is not None
    kinds = [isinstance(a, SwitchFlagOff | RestoreFlag) for a in sim.last.actions]
    assert kinds == sorted(kinds), "a workload action came after a flag action"
    expected.track(new, requests)
    if any(h.action is HistoryAction.ABORTED for h in new):
        stable = status.stable_revision
        assert status.canary_weight == 0
        assert sim.rs_replicas(stable) == sim.replicas, "the stable is not at full size"
        assert sim.status.canary_revision is None
    assert flags_pending(status) == any(e.state != e.wanted for e in status.feature_flags)
    # No provider call for a flag still backing off from its last failure, unless it
    # may have been wanted anew in this reconcile (a new wanted state is tried at once;
    # time may stand still in the sim, so wantedAt cannot tell).
    if any(h.action in REWANTING for h in new):
        return
    before = {e.name: e for e in prior.feature_flags}
    for name, asked in sim.flag_provider.calls[calls_before:]:
        old = before.get(name)
        if (
            old is not None
            and old.wanted is asked
            and old.attempts
            and old.last_attempt_at is not None
        ):
            due = old.last_attempt_at + timedelta(seconds=flags.retry_delay(old.attempts))
            assert sim.now >= due, f"{name} asked again before its backoff ended"


def reconcile(sim: Sim, expected: Expected) -> None:
    prior, calls = sim.status, len(sim.flag_provider.calls)
    requests = {r.verb: r for r in parse_requests(sim.annotations)[0]}
    sim.reconcile()
    check_reconcile(sim, prior, calls, expected, requests)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    declared=flags_strategy,
    events=s.lists(event_strategy, min_size=5, max_size=60),
)
def test_the_kill_switch_keeps_its_promises_whatever_the_provider_does(
    declared: list[tuple[str, list[str]]], events: list[tuple[str, Any]]
) -> None:
    sim = Sim(
        steps=[{"setWeight": 50}, {"pause": {}}],
        feature_flags=[
            {
                "name": name,
                "openFeature": {"featureFlag": "f", "flag": name, "offVariant": "off"},
                "disableOn": triggers,
            }
            for name, triggers in declared
        ],
    )
    sim.settle()
    provider = sim.flag_provider
    lost_a_write = False
    expected = Expected(disable_on=dict(declared))
    for kind, value in events:
        if kind == "ready":
            sim.pods_ready()
        elif kind == "advance":
            sim.advance(value)
        elif kind == "image":
            sim.set_image(value)
        elif kind == "request":
            sim.request(value)
        elif kind == "retry_keep":
            sim.request(Verb.RETRY, keep_flags_off=True)
        elif kind == "flags":
            sim.request(value[0], flags=tuple(value[1]))
        elif kind == "fail":
            provider.failing[value[0]] = value[1]
        elif kind == "hang":
            provider.hanging.add(value)
        elif kind == "answer":
            provider.hanging.clear()
            provider.failing.clear()
        elif kind == "crash":
            lost_a_write = True
            sim.reconcile(write_status=False)
        else:
            reconcile(sim, expected)

    # The provider answers again; time passes beyond every backoff.
    provider.hanging.clear()
    provider.failing.clear()
    for _ in range(3):
        sim.advance(flags.RETRY_CAP_SECONDS)
        reconcile(sim, expected)
        sim.pods_ready()
    assert not flags_pending(sim.status), sim.status.feature_flags
    for entry in sim.status.feature_flags:
        assert entry.state is entry.wanted
        if not lost_a_write:  # a lost write may leave the provider ahead of the status
            assert provider.states[entry.name] is entry.wanted
    if not lost_a_write:
        assert {e.name: e.wanted for e in sim.status.feature_flags} == expected.want
        assert {e.name for e in sim.status.feature_flags if flags.by_hand(e)} == expected.by_hand
    calls = len(provider.calls)
    before = sim.status
    sim.reconcile()
    assert sim.status == before
    assert len(provider.calls) == calls
