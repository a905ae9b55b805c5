"""The Unleash plan (pure): holders and the "was on" mark as tags, crash-safe, exact.

The server is modelled by :func:`unleash_plan.apply` (a feature's enabled bit and
its tags); a crash is a plan cut short after any of its steps, followed by the
same switch tried again, as the core does after a failed attempt.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.flags.unleash_plan import (
    TAG_MAX,
    Feature,
    Step,
    apply,
    hold_tag,
    holder,
    plan_off,
    plan_restore,
    previous_text,
    was_on_tag,
)

pytestmark = pytest.mark.unit

ENV = "production"


def off(feature: Feature, who: str) -> Feature:
    return apply(feature, plan_off(feature, environment=ENV, who=who).steps)


def restore(feature: Feature, who: str) -> Feature:
    return apply(feature, plan_restore(feature, environment=ENV, who=who).steps)


def test_off_then_restore_is_exact_both_ways() -> None:
    for enabled in (True, False):
        start = Feature(enabled=enabled, tags=frozenset())
        held = off(start, "a")
        assert not held.enabled
        assert restore(held, "a") == start


def test_off_records_the_holder_and_the_mark_before_turning_off() -> None:
    plan = plan_off(Feature(enabled=True, tags=frozenset()), environment=ENV, who="a")
    assert plan.steps == (
        Step("add_tag", was_on_tag(ENV)),
        Step("add_tag", hold_tag(ENV, "a")),
        Step("off"),
    )
    assert plan.was_on
    assert previous_text(plan.was_on) == '{"enabled": true}'


def test_restore_turns_on_before_dropping_the_mark() -> None:
    held = off(Feature(enabled=True, tags=frozenset()), "a")
    plan = plan_restore(held, environment=ENV, who="a")
    assert plan.steps == (
        Step("remove_tag", hold_tag(ENV, "a")),
        Step("on"),
        Step("remove_tag", was_on_tag(ENV)),
    )


def test_a_repeated_switch_sends_nothing() -> None:
    held = off(Feature(enabled=True, tags=frozenset()), "a")
    assert plan_off(held, environment=ENV, who="a").steps == ()
    free = restore(held, "a")
    assert plan_restore(free, environment=ENV, who="a").steps == ()


def test_a_shared_feature_stays_off_until_the_last_holder_restores() -> None:
    feature = off(off(Feature(enabled=True, tags=frozenset()), "a"), "b")
    assert feature.holders(ENV) == {"a", "b"}
    feature = restore(feature, "a")
    assert not feature.enabled
    feature = restore(feature, "b")
    assert feature == Feature(enabled=True, tags=frozenset())


def test_holds_in_other_environments_are_independent() -> None:
    feature = Feature(enabled=True, tags=frozenset({hold_tag("staging", "x")}))
    held = off(feature, "a")
    assert held.holders(ENV) == {"a"}
    assert restore(held, "a").enabled


def test_a_restore_by_a_rollout_that_holds_nothing_changes_nothing() -> None:
    for enabled in (True, False):
        feature = Feature(enabled=enabled, tags=frozenset({hold_tag(ENV, "b")}))
        assert plan_restore(feature, environment=ENV, who="a").steps == ()


def test_tag_values_fit_unleash_limits_whatever_the_names() -> None:
    long = "e" * 200
    who = holder("n" * 63, "r" * 253, "f" * 63)
    assert len(who) == 16
    for env in ("production", long, "a:b"):
        assert len(hold_tag(env, who)) <= TAG_MAX
        assert len(was_on_tag(env)) <= TAG_MAX
    assert hold_tag(long, who) != hold_tag(long + "x", who)


HOLDERS = ["a", "b", "c"]


@settings(max_examples=400, deadline=None)
@given(
    enabled=st.booleans(),
    script=st.lists(
        st.tuples(
            st.sampled_from(HOLDERS),
            st.sampled_from(["off", "restore"]),
            st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
        ),
        max_size=14,
    ),
)
def test_any_interleaving_with_crashes_ends_exactly(
    enabled: bool, script: list[tuple[str, str, int | None]]
) -> None:
    """Holders switch off and restore in any order; any switch may be cut short after
    some of its steps (``crash``) and is then tried again in full. The feature is off
    while anyone holds it; once every holder has restored, it is exactly as before."""
    feature = Feature(enabled=enabled, tags=frozenset())
    holding: set[str] = set()
    for who, verb, crash in script:
        plan_for = plan_off if verb == "off" else plan_restore
        steps = plan_for(feature, environment=ENV, who=who).steps
        if crash is not None:
            feature = apply(feature, steps[:crash])
            steps = plan_for(feature, environment=ENV, who=who).steps  # tried again
        feature = apply(feature, steps)
        if verb == "off":
            holding.add(who)
        else:
            holding.discard(who)
        assert feature.holders(ENV) == holding
        if holding:
            assert not feature.enabled
    for who in HOLDERS:
        feature = restore(feature, who)
    assert feature == Feature(enabled=enabled, tags=frozenset())
