"""A look in flight: the core leaves the next wake-up to the look's end.

While a look runs (at 1,000 Rollouts one waits about a minute for Prometheus),
the next look is "due now" until it ends. The I/O layer requeues the Rollout
when the look ends, so a decision told ``looking=True`` sets no wake-up for the
look; every other timer (a pause ending, the analysis' end, a guard's end) stays.
Before, each such Rollout was reconciled every second for nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from controller.core.decide import decide
from tests.unit.core.analysed import COMPARISON, Traffic, released
from tests.unit.core.test_analysis_properties import World, events, spec, steps_strategy


def test_a_look_in_flight_sets_no_wake_up_for_the_next_look() -> None:
    sim = released(
        [{"setWeight": 20}, {"analysis": {"maxDuration": "120s"}}, {"setWeight": 60}],
        {"metrics": [COMPARISON]},
    )
    for _ in range(3):  # into the analysis step
        sim.advance(5)
        sim.reconcile()
        sim.pods_ready()
    sim.advance(5)  # the next look is due
    assert sim.status.current_step_index == 1
    rollout, world = sim.rollout(), sim.world()
    idle = decide(rollout, world, sim.now)
    looking = decide(rollout, world, sim.now, looking=True)
    assert idle.requeue_after == 0.0  # due now: the I/O layer starts the look
    # In flight: only the analysis step's end is left to wake the Rollout.
    assert looking.requeue_after is not None
    assert looking.requeue_after > 60
    assert looking.status == idle.status
    assert looking.actions == idle.actions


def test_the_guard_still_ends_on_time_while_a_look_runs() -> None:
    sim = released([{"setWeight": 50}], {"metrics": [COMPARISON], "guard": {"duration": "30s"}})
    for _ in range(200):
        if sim.status.analysis is not None and sim.status.analysis.stage == "Guard":
            break
        sim.advance(5)
        sim.reconcile()
        sim.pods_ready()
    analysis = sim.status.analysis
    assert analysis is not None
    assert analysis.stage == "Guard"
    assert analysis.ends_at is not None
    sim.advance(5)
    decision = decide(sim.rollout(), sim.world(), sim.now, looking=True)
    left = (analysis.ends_at - sim.now).total_seconds()
    assert decision.requeue_after is not None
    assert 0 < decision.requeue_after <= left


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=steps_strategy,
    script=events,
    no_data=s.sampled_from(["inconclusive", "fail"]),
    later=s.integers(0, 30),
)
def test_looking_changes_only_the_wake_up_and_never_to_sooner(
    steps: list[dict[str, Any]], script: list[tuple[str, Any]], no_data: str, later: int
) -> None:
    """At any point of any release, deciding with a look in flight gives the same
    status, actions and events, and a wake-up no sooner than without it."""
    world = World(steps=steps, replicas=3, analysis_spec=spec(no_data), traffic=Traffic(rps=50))
    world.traffic.value = lambda _: world.rule_value
    world.settle()
    for kind, value in script:
        world.play(kind, value)
    world.now += timedelta(seconds=later)
    rollout, observed = world.rollout(), world.world()
    idle = decide(rollout, observed, world.now)
    looking = decide(rollout, observed, world.now, looking=True)
    assert looking.status == idle.status
    assert looking.actions == idle.actions
    assert looking.events == idle.events
    if idle.requeue_after is None:
        assert looking.requeue_after is None
    elif looking.requeue_after is not None:
        assert looking.requeue_after >= idle.requeue_after
