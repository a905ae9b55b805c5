"""``landinggear flags``, the FlagsPending line of ``get``, and ``retry --keep-flags-off``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller.cli.arguments import parse
from controller.cli.changes import request_patch
from controller.cli.flags import flags_table
from controller.cli.render import summary
from controller.core.world import Verb, parse_requests
from tests.unit.cli.samples import NOW, canary


def with_flags(*, pending: bool) -> dict[str, Any]:
    rollout = canary()
    rollout["spec"]["featureFlags"] = [
        {
            "name": "new-checkout",
            "openFeature": {"featureFlag": "checkout-flags", "flag": "new-checkout",
                            "offVariant": "off"},
        },
        {
            "name": "fast-search",
            "openFeature": {"featureFlag": "search", "flag": "fast", "offVariant": "off"},
            "disableOn": ["GuardFailure"],
        },
    ]  # fmt: skip
    entry: dict[str, Any] = {"name": "new-checkout", "wanted": "Off", "reason": "Abort: x"}
    if pending:
        entry |= {"attempts": 2, "lastError": "GET FeatureFlag shop/checkout-flags: 503"}
    else:
        entry |= {"state": "Off", "changedAt": (NOW - timedelta(minutes=3)).isoformat()}
    rollout["status"]["featureFlags"] = [entry]
    rollout["status"]["conditions"].append(
        {
            "type": "FlagsPending",
            "status": "True" if pending else "False",
            "reason": "FlagsPending" if pending else "FlagsConfirmed",
            "message": "new-checkout: Off not confirmed after 2 failed attempts: …"
            if pending
            else "",
            "lastTransitionTime": NOW.isoformat(),
        }
    )
    return rollout


def test_flags_lists_each_declared_flag_with_its_wanted_and_confirmed_state() -> None:
    lines = flags_table(with_flags(pending=False), NOW).splitlines()

    assert lines[0].split() == [
        "FLAG", "PROVIDER", "TARGET", "DISABLE", "ON", "WANTED", "CONFIRMED", "SINCE", "ERROR",
    ]  # fmt: skip
    assert lines[1].split() == [
        "new-checkout", "openFeature", "checkout-flags/new-checkout",
        "Abort,Rollback,GuardFailure", "Off", "Off", "3m",
    ]  # fmt: skip
    assert lines[2].split() == [
        "fast-search", "openFeature", "search/fast", "GuardFailure", "untouched", "-", "-",
    ]  # fmt: skip
    assert len(lines) == 3


def test_an_unconfirmed_flag_is_marked_with_its_error_and_the_pending_message() -> None:
    text = flags_table(with_flags(pending=True), NOW)

    row = text.splitlines()[1]
    assert "Off !" in row
    assert "2 failed: GET FeatureFlag shop/checkout-flags: 503" in row
    assert text.endswith(
        "FLAGS PENDING: new-checkout: Off not confirmed after 2 failed attempts: …"
    )


def test_get_says_loudly_that_flags_are_pending() -> None:
    assert "Flags:           FLAGS PENDING: new-checkout" in summary(with_flags(pending=True), NOW)
    assert "Flags:" not in summary(with_flags(pending=False), NOW)


def test_a_rollout_without_flags_says_so() -> None:
    assert flags_table(canary(), NOW) == "Rollout shop/web declares no feature flags."


def test_retry_keep_flags_off_reaches_the_core_through_the_request_annotation() -> None:
    args = parse(["retry", "web", "--keep-flags-off"])
    assert args.keep_flags_off is True
    assert parse(["retry", "web"]).keep_flags_off is False
    assert parse(["flags", "web"]).name == "web"

    patch = request_patch("retry", request_id="r1", by="alice", at=NOW, keep_flags_off=True)
    requests, errors = parse_requests(patch["metadata"]["annotations"])

    assert errors == []
    assert (requests[0].verb, requests[0].keep_flags_off) == (Verb.RETRY, True)
