"""The LaunchDarkly provider's errors, rate limits and token: a contract test, not LaunchDarkly.

As in ``test_launchdarkly``, LaunchDarkly's REST API is the documented-behaviour
fake behind ``httpx.MockTransport`` (``tests.unit.flags.launchdarkly_api``);
faults queued on it stand for LaunchDarkly's error answers and the network's.
Every failure must be a ``FlagError`` that names the project, flag and
environment and never carries the token.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from controller.api.flags import FeatureFlag
from controller.flags import FlagError
from controller.flags.launchdarkly import LaunchDarklyProvider, rate_limit_wait
from tests.unit.flags.launchdarkly_api import TOKEN, FakeLaunchDarkly, new_flag
from tests.unit.flags.launchdarkly_setup import (
    ENV,
    NOW,
    Clock,
    Secrets,
    ld_flag,
    state,
    target,
)

# ------------------------------------------------------------------ errors


def test_a_wrong_token_names_the_secret_it_came_from(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    with pytest.raises(FlagError) as err:
        provider.switch_off(target(flag=ld_flag(secret="old-token")), reason="Abort: x")

    assert str(err.value) == (
        "LaunchDarkly refused the token from Secret shop/old-token for flag "
        "shop/new-checkout in environment production (401 Unauthorized): Invalid access token"
    )
    assert "revoked-token" not in str(err.value)


def test_a_token_without_write_access_says_what_it_needs(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    ld.faults = [
        "pass",
        httpx.Response(403, json={"message": "Access to the requested resource was denied"}),
    ]

    with pytest.raises(FlagError) as err:
        provider.switch_off(target(), reason="Abort: x")

    assert str(err.value).startswith(
        "LaunchDarkly refused the token from Secret shop/ld-token for flag shop/new-checkout "
        "in environment production (403 Forbidden): Access to the requested resource was denied"
    )
    assert str(err.value).endswith("it needs permission to update the flag's targeting and tags")


def test_a_missing_secret_is_the_secret_sources_error(provider: LaunchDarklyProvider) -> None:
    with pytest.raises(FlagError, match="Secret shop/nope not found"):
        provider.switch_off(target(flag=ld_flag(secret="nope")), reason="Abort: x")


def test_an_unknown_flag_or_environment_says_which(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    del ld.flags[("shop", "new-checkout")]
    with pytest.raises(FlagError, match=r"not found \(404\): no flag 'new-checkout' in project"):
        provider.switch_off(target(), reason="Abort: x")

    ld.add("shop", new_flag("new-checkout", on={"staging": True}))
    with pytest.raises(FlagError, match="has no environment 'production'"):
        provider.switch_off(target(), reason="Abort: x")


def test_a_rejected_patch_carries_launchdarklys_message(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    refused = httpx.Response(400, json={"code": "invalid_request", "message": "flag is archived"})
    ld.faults = ["pass", refused]

    with pytest.raises(FlagError) as err:
        provider.switch_off(target(), reason="Abort: x")
    assert str(err.value) == (
        "LaunchDarkly flag shop/new-checkout in environment production: LaunchDarkly "
        "rejected the PATCH (400): flag is archived"
    )


def test_a_rate_limit_is_waited_out_within_the_bound(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider, clock: Clock
) -> None:
    ld.faults = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        "pass",
        httpx.Response(429, headers={"X-Ratelimit-Reset": str(int((NOW + 3.5) * 1000))}),
    ]

    provider.switch_off(target(), reason="Abort: x")

    assert clock.slept == [2.0, 1.5]  # the reset is 3.5 s after NOW; 2 s were slept already
    assert state(ld)[0] is False


def test_a_rate_limit_beyond_the_bound_fails_saying_when_it_resets(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider, clock: Clock
) -> None:
    ld.faults = [httpx.Response(429, headers={"X-Ratelimit-Reset": str(int(NOW + 60) * 1000)})]

    with pytest.raises(FlagError) as err:
        provider.switch_off(target(), reason="Abort: x")

    assert "rate limit was reached (429); it resets at 2026-05-28T20:27:40+00:00 (in 60s)" in str(
        err.value
    )
    assert clock.slept == []
    assert state(ld)[0] is True


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({}, 1.0),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "Thu, 28 May 2026 20:26:50 GMT"}, 10.0),
        ({"X-Ratelimit-Reset": str(int((NOW + 4) * 1000))}, 4.0),
        ({"Retry-After": "1", "X-Ratelimit-Reset": str(int((NOW + 4) * 1000))}, 4.0),
        ({"X-Ratelimit-Reset": str(int((NOW - 4) * 1000))}, 0.0),
        ({"Retry-After": "soon", "X-Ratelimit-Reset": "nan"}, 1.0),
    ],
)
def test_the_rate_limit_wait_is_the_later_of_the_headers(
    headers: dict[str, str], wait: float
) -> None:
    assert rate_limit_wait(httpx.Headers(headers), now=NOW) == pytest.approx(wait)


def test_a_server_error_is_an_error_with_its_cause(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider
) -> None:
    ld.faults = [httpx.Response(503, json={"code": "unavailable", "message": "maintenance"})]

    with pytest.raises(FlagError) as err:
        provider.switch_off(target(), reason="Abort: x")
    assert str(err.value) == (
        "LaunchDarkly flag shop/new-checkout in environment production: "
        "LaunchDarkly failed (503 Service Unavailable): maintenance"
    )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (httpx.ReadTimeout("timed out"), "GET: no answer within 5s (ReadTimeout)"),
        (httpx.ConnectError("connection refused"), "GET: ConnectError: connection refused"),
        (httpx.Response(302, headers={"Location": "https://elsewhere.test/"}), "302 Found"),
        (httpx.Response(200, text="<html>maintenance</html>"), "is not JSON: <html>"),
        (RuntimeError("a bug"), "unexpected RuntimeError: a bug"),
    ],
)
def test_network_failures_timeouts_and_odd_answers_are_flag_errors(
    ld: FakeLaunchDarkly, provider: LaunchDarklyProvider, fault: Any, message: str
) -> None:
    ld.faults = [fault]
    with pytest.raises(FlagError, match=r"^LaunchDarkly flag shop/new-checkout") as err:
        provider.switch_off(target(), reason="Abort: x")
    assert message in str(err.value)
    assert state(ld)[0] is True


def test_the_token_never_appears_in_an_error(ld: FakeLaunchDarkly, clock: Clock) -> None:
    canary = "api-CANARY-7f3a9c"
    ld.token = canary
    provider = LaunchDarklyProvider(
        Secrets(canary), client=ld.client(), timeout=5.0, sleep=clock.sleep, clock=clock
    )
    echoes: list[Any] = [
        httpx.Response(500, text=f"internal error for Authorization: {canary}"),
        httpx.Response(400, json={"message": f"bad token {canary}"}),
        httpx.Response(200, text=f"not json {canary}"),
        httpx.ConnectError(f"proxy said {canary}"),
        RuntimeError(canary),
    ]
    for echo in echoes:
        ld.faults = [echo]
        with pytest.raises(FlagError) as err:
            provider.switch_off(target(), reason="Abort: x")
        assert canary not in str(err.value)
        assert "***" in str(err.value)


def test_a_token_that_is_not_a_header_value_is_refused_without_showing_it(
    ld: FakeLaunchDarkly,
) -> None:
    provider = LaunchDarklyProvider(Secrets("line1\nCANARY"), client=ld.client())
    with pytest.raises(FlagError, match="not a valid HTTP header value") as err:
        provider.switch_off(target(), reason="Abort: x")
    assert "CANARY" not in str(err.value)
    assert ld.requests == []


def test_a_flag_of_another_kind_is_refused(provider: LaunchDarklyProvider) -> None:
    other = FeatureFlag.model_validate(
        {"name": "x", "openFeature": {"featureFlag": "f", "flag": "x", "offVariant": "off"}}
    )
    with pytest.raises(FlagError, match="is not a LaunchDarkly flag"):
        provider.switch_off(target(flag=other), reason="Abort: x")


# ------------------------------------------------------------------ the fake keeps the contract


def test_the_fake_refuses_what_launchdarkly_refuses(ld: FakeLaunchDarkly) -> None:
    client = ld.client()
    url = "https://app.launchdarkly.com/api/v2/flags/shop/new-checkout"
    body = {"environmentKey": ENV, "instructions": [{"kind": "turnFlagOff"}]}
    auth = {"Authorization": TOKEN}
    semantic = {**auth, "Content-Type": "application/json; domain-model=launchdarkly.semanticpatch"}

    assert client.patch(url, json=body, headers=auth).status_code == 400  # read as a JSON patch
    assert (
        client.patch(url, json=body, headers={**semantic, "Authorization": "x"}).status_code == 401
    )
    bad = {"environmentKey": ENV, "instructions": [{"kind": "deleteFlag"}]}
    answer = client.patch(url, json=bad, headers=semantic)
    assert answer.status_code == 400
    assert answer.json()["message"] == "unknown instruction kind 'deleteFlag'"
    too_long = {"instructions": [{"kind": "addTags", "values": ["x" * 65]}]}
    assert client.patch(url, json=too_long, headers=semantic).status_code == 400
    assert state(ld)[0] is True  # nothing applied
    assert client.patch(url, json=body, headers=semantic).json()["environments"][ENV]["on"] is False
