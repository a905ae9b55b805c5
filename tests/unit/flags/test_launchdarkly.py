"""The LaunchDarkly provider at its HTTP boundary: a contract test, not LaunchDarkly.

LaunchDarkly's servers cannot run here. The provider talks, through
``httpx.MockTransport``, to a fake that implements what LaunchDarkly's REST API
documents for getting a flag and updating it with a semantic patch — headers,
content type, instructions, the error format, 401/404/409/429/5xx
(``tests.unit.flags.launchdarkly_api``). The assertions are on the flag the fake
holds afterwards and on the errors, not on the order of calls.

This module: switching off and restoring, shared flags, lost answers and races.
Errors, rate limits and the token: ``test_launchdarkly_errors``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from controller.api.flags import FlagState
from controller.core.actions import RestoreFlag, SwitchFlagOff
from controller.flags import FlagError, FlagSwitches
from controller.flags.launchdarkly import LaunchDarklyProvider
from tests.unit.flags.launchdarkly_api import TOKEN, FakeLaunchDarkly, new_flag
from tests.unit.flags.launchdarkly_setup import (
    ENV,
    Secrets,
    ld_flag,
    ours,
    state,
    tags,
    target,
)

# ------------------------------------------------------------------ the happy paths


def test_off_then_restore_puts_the_flag_back_on(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    previous = provider.switch_off(target(), reason="Abort: error rate 7%")

    assert json.loads(previous) == {"on": True}
    assert state(ld) == (False, True, ["team"])
    assert ours(ld) == {tags().hold, tags().mark}

    provider.restore(target(), previous=previous)

    assert state(ld) == (True, True, ["team"])
    assert ours(ld) == set()


def test_a_flag_that_was_off_stays_off_after_the_restore(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    ld.flag()["environments"][ENV]["on"] = False

    previous = provider.switch_off(target(), reason="Abort: x")
    provider.restore(target(), previous=previous)

    assert json.loads(previous) == {"on": False}
    assert state(ld) == (False, True, ["team"])
    assert ours(ld) == set()


def test_requests_carry_the_token_bare_and_a_semantic_patch(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    provider.switch_off(target(), reason="Abort: error rate 7%")

    get, patch = ld.requests
    assert (get.method, get.path) == ("GET", "/api/v2/flags/shop/new-checkout")
    assert get.headers["Authorization"] == TOKEN
    assert patch.headers["Content-Type"] == (
        "application/json; domain-model=launchdarkly.semanticpatch"
    )
    assert patch.body["environmentKey"] == ENV
    assert patch.body["comment"] == "Landing Gear: Abort: error rate 7%"
    assert {"kind": "turnFlagOff"} in patch.body["instructions"]


def test_the_default_base_url_and_the_env_query() -> None:
    seen: list[httpx.URL] = []
    fake = FakeLaunchDarkly()
    fake.add("shop", new_flag("new-checkout", on={ENV: True}))
    inner = fake.handle

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return inner(request)

    client = httpx.Client(transport=httpx.MockTransport(spy))
    LaunchDarklyProvider(Secrets(), client=client).switch_off(target(), reason="x")

    assert seen[0].host == "app.launchdarkly.com"  # the default base URL
    assert seen[0].params["env"] == ENV


def test_switching_off_or_restoring_again_sends_no_change(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    first = provider.switch_off(target(), reason="Abort: x")
    second = provider.switch_off(target(), reason="Abort: x")
    assert first == second
    provider.restore(target(), previous=first)
    provider.restore(target(), previous=first)

    assert len(ld.patches()) == 2
    assert state(ld) == (True, True, ["team"])


def test_two_rollouts_naming_one_flag_keep_it_off_until_both_restored(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    web, api = target("web"), target("api", ld_flag("checkout"))
    previous_web = provider.switch_off(web, reason="Abort: x")
    previous_api = provider.switch_off(api, reason="GuardFailure: y")
    assert json.loads(previous_api) == {"on": True}  # the state before the first holder

    provider.restore(web, previous=previous_web)
    assert state(ld)[0] is False
    assert ours(ld) == {tags("api", "checkout").hold, tags().mark}

    provider.restore(api, previous=previous_api)
    assert state(ld) == (True, True, ["team"])
    assert ours(ld) == set()


def test_restoring_a_flag_this_rollout_does_not_hold_changes_nothing(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    provider.switch_off(target("api", ld_flag("checkout")), reason="Abort: x")
    before = json.loads(json.dumps(ld.flag()))

    provider.restore(target("web"), previous='{"on": true}')

    assert ld.flag() == before


def test_through_the_flag_switches_the_answers_are_results(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    switches = FlagSwitches([provider])
    off = switches.apply(
        namespace="shop", rollout="web", action=SwitchFlagOff(flag=ld_flag(), reason="Abort: x")
    )
    assert (off.state, off.error, json.loads(off.previous)) == (FlagState.OFF, "", {"on": True})

    back = switches.apply(
        namespace="shop", rollout="web", action=RestoreFlag(flag=ld_flag(), previous=off.previous)
    )
    assert (back.state, back.error) == (FlagState.RESTORED, "")
    assert state(ld)[0] is True


# ------------------------------------------------------------------ crashes and races


def test_a_switch_off_whose_answer_was_lost_is_finished_by_the_retry(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    ld.faults = ["pass", "apply-then-drop"]  # the GET passes; the PATCH applies, then is lost

    with pytest.raises(FlagError, match="no answer within 5s"):
        provider.switch_off(target(), reason="Abort: x")
    assert state(ld)[0] is False  # it did happen

    previous = provider.switch_off(target(), reason="Abort: x")
    assert json.loads(previous) == {"on": True}  # not "it was off": the mark went with the off
    assert len(ld.patches()) == 1


def test_a_restore_whose_answer_was_lost_is_finished_by_the_retry(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    previous = provider.switch_off(target(), reason="Abort: x")
    ld.faults = ["pass", "apply-then-drop"]

    with pytest.raises(FlagError):
        provider.restore(target(), previous=previous)
    provider.restore(target(), previous=previous)

    assert state(ld) == (True, True, ["team"])
    assert ours(ld) == set()


def test_two_last_restores_racing_still_turn_the_flag_back_on(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    api = target("api", ld_flag("checkout"))
    provider.switch_off(target("web"), reason="Abort: x")
    provider.switch_off(api, reason="Abort: x")

    def api_restores_meanwhile(fake: FakeLaunchDarkly) -> None:
        fake.before_patch = None
        # api read the flag while web still held it, so it only dropped its own hold.
        fake.flag()["tags"].remove(tags("api", "checkout").hold)

    ld.before_patch = api_restores_meanwhile
    provider.restore(target("web"), previous="")

    assert state(ld) == (True, True, ["team"])
    assert ours(ld) == set()


def test_a_racing_restore_cannot_turn_on_a_flag_another_rollout_just_took(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    provider.switch_off(target("web"), reason="Abort: x")

    def api_takes_hold_meanwhile(fake: FakeLaunchDarkly) -> None:
        fake.before_patch = None
        api = tags("api", "checkout")
        fake.flag()["tags"] += [api.hold]

    ld.before_patch = api_takes_hold_meanwhile
    provider.restore(target("web"), previous="")

    assert state(ld)[0] is False
    assert ours(ld) == {tags("api", "checkout").hold, tags().mark}


def test_a_conflict_reads_the_flag_again(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    conflict = httpx.Response(409, json={"code": "conflict", "message": "concurrent update"})
    ld.faults = ["pass", conflict]

    provider.switch_off(target(), reason="Abort: x")

    assert [r.method for r in ld.requests] == ["GET", "PATCH", "GET", "PATCH"]
    assert state(ld)[0] is False


def test_a_flag_that_keeps_conflicting_is_an_error_that_says_so(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    conflict = httpx.Response(409, json={"code": "conflict", "message": "concurrent update"})
    ld.faults = ["pass", conflict] * 10

    with pytest.raises(FlagError, match="still changing after 4 changes"):
        provider.switch_off(target(), reason="Abort: x")
