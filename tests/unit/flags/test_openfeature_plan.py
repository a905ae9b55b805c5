"""Switching an OpenFeature flag off and back: the patch, the holders, the exact restore.

Pure: the plans are applied to plain dicts by a fake that behaves as the API
server does for JSON Patches (``tests.unit.flags.featureflags``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controller.flags import FlagError
from controller.flags.openfeature_plan import RESTORE_ANNOTATION, plan_off, plan_restore
from tests.unit.flags.featureflags import Conflict, apply_patch, feature_flag, records

TARGETING = {"if": [{"in": ["@example.com", {"var": "email"}]}, "on", None]}


def checkout() -> dict[str, Any]:
    return {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on",
        "targeting": TARGETING,
    }


def off(obj: dict[str, Any], holder: str = "web/new-checkout") -> dict[str, Any]:
    plan = plan_off(obj, key="new-checkout", off_variant="off", holder=holder)
    return apply_patch(obj, plan.ops) if plan.ops else obj


def restore(obj: dict[str, Any], holder: str = "web/new-checkout") -> dict[str, Any]:
    plan = plan_restore(obj, key="new-checkout", holder=holder)
    return apply_patch(obj, plan.ops) if plan.ops else obj


def test_off_sets_the_off_variant_drops_targeting_and_records_what_was_there() -> None:
    before = feature_flag({"new-checkout": checkout(), "other": checkout()})

    plan = plan_off(before, key="new-checkout", off_variant="off", holder="web/new-checkout")
    after = apply_patch(before, plan.ops)

    flag = after["spec"]["flagSpec"]["flags"]["new-checkout"]
    assert flag == {"state": "ENABLED", "variants": {"on": True, "off": False},
                    "defaultVariant": "off"}  # fmt: skip
    assert after["spec"]["flagSpec"]["flags"]["other"] == checkout()  # untouched
    assert plan.previous == {"defaultVariant": "on", "targeting": TARGETING}
    assert records(after) == {
        "new-checkout": {"previous": plan.previous, "holders": ["web/new-checkout"]}
    }
    assert plan.ops[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}


def test_restore_puts_back_exactly_what_was_there_and_drops_the_record() -> None:
    before = feature_flag({"new-checkout": checkout()}, annotations={"team": "shop"})

    after = restore(off(before))

    assert after["spec"] == before["spec"]  # targeting with its null, exactly
    assert after["metadata"]["annotations"] == {"team": "shop"}


def test_a_flag_without_targeting_comes_back_without_targeting() -> None:
    plain = {k: v for k, v in checkout().items() if k != "targeting"}
    before = feature_flag({"new-checkout": plain})

    assert restore(off(before))["spec"] == before["spec"]


def test_switching_off_and_restoring_twice_changes_nothing_the_second_time() -> None:
    once = off(feature_flag({"new-checkout": checkout()}))
    assert (
        plan_off(once, key="new-checkout", off_variant="off", holder="web/new-checkout").ops == []
    )

    back = restore(once)
    assert plan_restore(back, key="new-checkout", holder="web/new-checkout").ops == []


def test_two_rollouts_keep_the_flag_off_until_both_have_restored_it() -> None:
    before = feature_flag({"new-checkout": checkout()})

    both = off(off(before, "web/new-checkout"), "api/checkout")
    assert records(both)["new-checkout"]["holders"] == ["api/checkout", "web/new-checkout"]
    # The second holder did not record the off state as "previous".
    assert records(both)["new-checkout"]["previous"]["defaultVariant"] == "on"

    one_left = restore(both, "web/new-checkout")
    assert one_left["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] == "off"
    assert records(one_left)["new-checkout"]["holders"] == ["api/checkout"]

    assert restore(one_left, "api/checkout")["spec"] == before["spec"]


def test_a_flag_someone_switched_on_again_while_held_is_switched_off_by_the_next_holder() -> None:
    held = off(feature_flag({"new-checkout": checkout()}))
    by_hand = copy.deepcopy(held)
    by_hand["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] = "on"

    again = off(by_hand, "api/checkout")

    assert again["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] == "off"
    assert records(again)["new-checkout"]["previous"]["defaultVariant"] == "on"


def test_the_patch_is_refused_when_the_object_changed_since_it_was_read() -> None:
    before = feature_flag({"new-checkout": checkout()})
    plan = plan_off(before, key="new-checkout", off_variant="off", holder="web/new-checkout")
    newer = copy.deepcopy(before)
    newer["metadata"]["resourceVersion"] = "2"

    with pytest.raises(Conflict):
        apply_patch(newer, plan.ops)


@pytest.mark.parametrize(
    ("flags", "annotation", "message"),
    [
        ({}, None, "has no flag 'new-checkout'"),
        ({"new-checkout": {"variants": {"yes": 1}, "defaultVariant": "yes"}}, None,
         "has no variant 'off' \\(its variants: yes\\)"),
        ({"new-checkout": checkout()}, "{not json", "unreadable"),
        ({"new-checkout": checkout()}, json.dumps({"new-checkout": []}), "unreadable"),
    ],
)  # fmt: skip
def test_what_cannot_be_switched_says_why(
    flags: dict[str, Any], annotation: str | None, message: str
) -> None:
    annotations = {RESTORE_ANNOTATION: annotation} if annotation is not None else None
    with pytest.raises(FlagError, match=message):
        plan_off(
            feature_flag(flags, annotations=annotations),
            key="new-checkout",
            off_variant="off",
            holder="web/new-checkout",
        )


def test_restoring_a_flag_that_was_deleted_meanwhile_only_drops_the_record() -> None:
    held = off(feature_flag({"new-checkout": checkout(), "other": checkout()}))
    del held["spec"]["flagSpec"]["flags"]["new-checkout"]

    after = restore(held)

    assert "new-checkout" not in after["spec"]["flagSpec"]["flags"]
    assert records(after) == {}
