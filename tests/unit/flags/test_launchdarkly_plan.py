"""Switching a LaunchDarkly flag off and back: the tags, the holders, the exact restore (pure).

The plans are applied by the contract fake's semantic-patch interpreter
(``tests.unit.flags.launchdarkly_api``), which does what LaunchDarkly documents
for ``addTags`` / ``removeTags`` / ``turnFlagOn`` / ``turnFlagOff``. The
properties run several holders at once, with every read and write interleaved
and crashes between a write and its answer, as concurrent reconciles would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from controller.flags import FlagError
from controller.flags.launchdarkly_plan import (
    TAG_PATTERN,
    FlagView,
    Instruction,
    Tags,
    holder,
    plan_off,
    plan_restore,
    previous_text,
    read_flag,
)
from tests.unit.flags.launchdarkly_api import apply_instructions, new_flag

ENV = "production"
WEB = Tags.of(environment=ENV, holder=holder("shop", "web", "new-checkout"))
API = Tags.of(environment=ENV, holder=holder("shop", "api", "checkout"))
OTHER_ENV = Tags.of(environment="staging", holder=holder("shop", "web", "new-checkout"))
USER_TAG = "team-checkout"


def flag(*, on: bool, tags: list[str] | None = None) -> dict[str, Any]:
    return new_flag("new-checkout", on={ENV: on, "staging": True}, tags=[USER_TAG, *(tags or [])])


def view(obj: dict[str, Any]) -> FlagView:
    return read_flag(obj, ENV, where="flag shop/new-checkout")


def apply(obj: dict[str, Any], instructions: list[Instruction]) -> dict[str, Any]:
    return apply_instructions(obj, ENV, instructions) if instructions else obj


def off(obj: dict[str, Any], tags: Tags = WEB) -> dict[str, Any]:
    return apply(obj, plan_off(view(obj), tags))


def restore(obj: dict[str, Any], tags: Tags = WEB) -> dict[str, Any]:
    return apply(obj, plan_restore(view(obj), tags))


# ------------------------------------------------------------------ the tags


@given(
    namespace=st.text(min_size=1, max_size=253),
    rollout=st.text(min_size=1, max_size=253),
    handle=st.text(min_size=1, max_size=63),
    environment=st.text(min_size=1, max_size=253),
)
def test_tags_keep_to_launchdarklys_rule_whatever_the_names(
    namespace: str, rollout: str, handle: str, environment: str
) -> None:
    tags = Tags.of(environment=environment, holder=holder(namespace, rollout, handle))
    for tag in (tags.hold, tags.mark):
        assert TAG_PATTERN.match(tag), tag
    assert tags.hold.startswith(tags.holds)
    assert not tags.mark.startswith(tags.holds)


def test_each_holder_and_environment_has_its_own_tags() -> None:
    assert WEB.hold != API.hold
    assert WEB.holds == API.holds
    assert WEB.mark == API.mark
    assert OTHER_ENV.holds != WEB.holds
    assert OTHER_ENV.mark != WEB.mark
    # The namespace is part of the holder: the same Rollout name elsewhere is another holder.
    elsewhere = Tags.of(environment=ENV, holder=holder("payments", "web", "new-checkout"))
    assert elsewhere.hold != WEB.hold


# ------------------------------------------------------------------ off and restore


def test_off_records_the_hold_and_that_it_was_on_in_the_request_that_turns_it_off() -> None:
    assert plan_off(view(flag(on=True)), WEB) == [
        {"kind": "addTags", "values": sorted([WEB.hold, WEB.mark])},
        {"kind": "turnFlagOff"},
    ]
    after = off(flag(on=True))
    assert after["environments"][ENV]["on"] is False
    assert after["environments"]["staging"]["on"] is True  # another environment: untouched
    assert previous_text(view(after), WEB) == json.dumps({"on": True})


def test_off_of_a_flag_that_was_off_records_only_the_hold() -> None:
    assert plan_off(view(flag(on=False)), WEB) == [
        {"kind": "addTags", "values": [WEB.hold]},
        {"kind": "turnFlagOff"},
    ]
    assert previous_text(view(off(flag(on=False))), WEB) == json.dumps({"on": False})


@pytest.mark.parametrize("on", [True, False])
def test_restore_puts_back_exactly_what_was_there_and_drops_our_tags(on: bool) -> None:
    before = flag(on=on)
    after = restore(off(before))
    assert after["environments"] == before["environments"]
    assert after["tags"] == [USER_TAG]


def test_the_last_holder_out_restores_in_one_request() -> None:
    assert plan_restore(view(off(flag(on=True))), WEB) == [
        {"kind": "removeTags", "values": sorted([WEB.hold, WEB.mark])},
        {"kind": "turnFlagOn"},
    ]


@pytest.mark.parametrize("on", [True, False])
def test_switching_off_and_restoring_twice_changes_nothing_the_second_time(on: bool) -> None:
    once = off(flag(on=on))
    assert plan_off(view(once), WEB) == []
    back = restore(once)
    assert plan_restore(view(back), WEB) == []


def test_two_rollouts_keep_the_flag_off_until_both_have_restored_it() -> None:
    both = off(off(flag(on=True), WEB), API)
    assert previous_text(view(both), API) == json.dumps({"on": True})  # not "it was off"

    one_left = restore(both, WEB)
    assert one_left["environments"][ENV]["on"] is False
    assert plan_restore(view(one_left), WEB) == []
    assert API.hold in one_left["tags"]

    back = restore(one_left, API)
    assert back["environments"][ENV]["on"] is True
    assert back["tags"] == [USER_TAG]


def test_restoring_a_flag_this_rollout_does_not_hold_changes_nothing() -> None:
    assert plan_restore(view(flag(on=True)), WEB) == []
    assert plan_restore(view(flag(on=False)), WEB) == []
    assert plan_restore(view(off(flag(on=True), API)), WEB) == []


def test_holds_in_another_environment_do_not_count() -> None:
    staging_held = flag(on=True, tags=[OTHER_ENV.hold, OTHER_ENV.mark])
    after = restore(off(staging_held))
    assert after["environments"][ENV]["on"] is True
    assert sorted(after["tags"]) == sorted([USER_TAG, OTHER_ENV.hold, OTHER_ENV.mark])


def test_a_restore_interrupted_after_the_holds_were_dropped_is_finished_by_the_next() -> None:
    # Two last restores raced: each dropped its hold seeing the other's; the mark stayed.
    stranded = flag(on=False, tags=[WEB.mark])
    assert plan_restore(view(stranded), API) == [
        {"kind": "removeTags", "values": [WEB.mark]},
        {"kind": "turnFlagOn"},
    ]


def test_a_flag_turned_on_under_another_holder_by_a_racing_restore_is_turned_off_again() -> None:
    # The last restore's turnFlagOn landed just after another Rollout took hold.
    raced = flag(on=True, tags=[API.hold])
    assert plan_restore(view(raced), WEB) == [
        {"kind": "addTags", "values": [WEB.mark]},
        {"kind": "turnFlagOff"},
    ]


def test_a_flag_turned_on_by_hand_while_held_is_left_to_the_person_until_the_next_off() -> None:
    by_hand = flag(on=True, tags=[API.hold, WEB.hold, WEB.mark])
    assert plan_restore(view(by_hand), WEB) == [{"kind": "removeTags", "values": [WEB.hold]}]
    assert plan_off(view(by_hand), API) == [
        {"kind": "addTags", "values": sorted([API.hold, API.mark])},
        {"kind": "turnFlagOff"},
    ]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "not a flag"),
        ({"tags": []}, "no environment 'production'"),
        ({"environments": {"staging": {"on": True}}}, "no environment 'production'"),
        ({"environments": {ENV: {}}, "tags": []}, "no on/off state"),
        ({"environments": {ENV: {"on": True}}, "tags": "x"}, "no on/off state or tags"),
    ],
)
def test_an_answer_that_is_not_a_flag_in_the_environment_says_so(obj: Any, message: str) -> None:
    with pytest.raises(FlagError, match=message):
        read_flag(obj, ENV, where="flag shop/new-checkout")


# ------------------------------------------------------------------ properties

TAG_POOL = [WEB.hold, WEB.mark, API.hold, OTHER_ENV.hold, OTHER_ENV.mark, USER_TAG]


@given(on=st.booleans(), tags=st.sets(st.sampled_from(TAG_POOL)), restoring=st.booleans())
def test_a_plan_applied_leaves_nothing_more_to_do(
    on: bool, tags: set[str], restoring: bool
) -> None:
    plan = plan_restore if restoring else plan_off
    obj = new_flag("f", on={ENV: on}, tags=sorted(tags))
    after = apply(obj, plan(view(obj), WEB))
    assert plan(view(after), WEB) == []
    assert USER_TAG in after["tags"] or USER_TAG not in tags
    if not restoring:
        assert WEB.hold in after["tags"]
        assert after["environments"][ENV]["on"] is False


@dataclass
class Holder:
    """One Rollout's flag entry working through its off/restore actions, a step at a time."""

    tags: Tags
    script: list[str]
    seen: FlagView | None = None


def run(was_on: bool, scripts: list[list[str]], schedule: list[tuple[int, int]]) -> None:
    """Holders work through ``scripts`` concurrently, then check the end state.

    Each step of ``schedule`` is (which busy holder, crash unless nonzero): one read or
    one PATCH of that holder. A PATCH whose answer is lost (a crash) makes the holder
    start its action again from a read, as the core's retry would.
    """
    server = {"flag": new_flag("f", on={ENV: was_on, "staging": True}, tags=[USER_TAG])}
    holders = [
        Holder(Tags.of(environment=ENV, holder=holder("ns", f"r{i}", "f")), list(script))
        for i, script in enumerate(scripts)
    ]

    def step(h: Holder, *, crash: bool) -> None:
        if h.seen is None:
            h.seen = view(server["flag"])
            return
        plan = plan_off if h.script[0] == "off" else plan_restore
        instructions = plan(h.seen, h.tags)
        if not instructions:  # the action is confirmed
            if h.script[0] == "off":
                assert previous_text(h.seen, h.tags) == json.dumps({"on": was_on})
            h.script.pop(0)
            h.seen = None
            return
        server["flag"] = apply_instructions(server["flag"], ENV, instructions)
        h.seen = None if crash else view(server["flag"])

    for which, survives in schedule:
        busy = [h for h in holders if h.script]
        if not busy:
            break
        step(busy[which % len(busy)], crash=not survives)
    for h in holders:  # the rest without interference: each finishes in a few steps
        for _ in range(20):
            if not h.script:
                break
            step(h, crash=False)
        assert not h.script

    last = {h.tags.hold: script[-1] for h, script in zip(holders, scripts, strict=True) if script}
    holding = {hold for hold, action in last.items() if action == "off"}
    final = server["flag"]
    ours = {t for t in final["tags"] if t != USER_TAG}
    assert final["environments"][ENV]["on"] is (was_on and not holding)
    assert final["environments"]["staging"]["on"] is True
    assert USER_TAG in final["tags"]
    assert ours == holding | ({WEB.mark} if holding and was_on else set())


OK = 1
CRASH = 0


@given(
    was_on=st.booleans(),
    scripts=st.lists(
        st.lists(st.sampled_from(["off", "restore"]), max_size=4), min_size=1, max_size=3
    ),
    schedule=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=60),
)
# A restore's turnFlagOn lands just after another Rollout took hold (repaired by the restorer).
@example(True, [["off", "restore"], ["off"]], [(0, OK)] * 4 + [(1, OK)] * 3 + [(0, OK)])
# The last restore lands between a new holder's read and write (the mark is re-added).
@example(True, [["off", "restore"], ["off"]], [(0, OK)] * 4 + [(1, OK), (0, OK), (1, OK)])
# Two last restores race and the later one's answer is lost (the retry finishes it).
@example(
    True,
    [["off", "restore"], ["off", "restore"]],
    [(0, OK)] * 3 + [(1, OK)] * 3 + [(0, OK), (1, OK), (0, OK), (1, CRASH)],
)
@settings(max_examples=500, deadline=None)
def test_any_interleaving_ends_on_iff_it_was_on_and_every_holder_restored(
    was_on: bool, scripts: list[list[str]], schedule: list[tuple[int, int]]
) -> None:
    run(was_on, scripts, schedule)
