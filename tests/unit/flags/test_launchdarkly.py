"""The LaunchDarkly provider at its HTTP boundary: a contract test, not LaunchDarkly.

LaunchDarkly's servers cannot run here. The provider talks, through
``httpx.MockTransport``, to a fake that implements what LaunchDarkly's REST API
documents for getting a flag and updating it with a semantic patch — headers,
content type, instructions, the error format, 401/404/409/429/5xx
(``tests.unit.flags.launchdarkly_api``). The assertions are on the flag the fake
holds afterwards and on the errors, not on the order of calls.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from controller.api.flags import FeatureFlag, FlagState, SecretKeyRef
from controller.core.actions import RestoreFlag, SwitchFlagOff
from controller.flags import FlagError, FlagSwitches, FlagTarget
from controller.flags.launchdarkly import LaunchDarklyProvider, rate_limit_wait
from controller.flags.launchdarkly_plan import Tags, holder
from tests.unit.flags.launchdarkly_api import TOKEN, FakeLaunchDarkly, new_flag

NOW = 1_780_000_000.0
ENV = "production"


def ld_flag(name: str = "new-checkout", *, secret: str = "ld-token") -> FeatureFlag:
    return FeatureFlag.model_validate(
        {
            "name": name,
            "launchDarkly": {
                "project": "shop",
                "environment": ENV,
                "flag": "new-checkout",
                "tokenSecretRef": {"name": secret, "key": "token"},
            },
        }
    )


class Secrets:
    """Secrets in the Rollouts' namespaces: ``ld-token`` holds the token."""

    def __init__(self, token: str = TOKEN) -> None:
        self.values = {("shop", "ld-token"): token, ("shop", "old-token"): "revoked-token"}

    def read(self, namespace: str, ref: SecretKeyRef) -> str:
        try:
            return self.values[(namespace, ref.name)]
        except KeyError:
            raise FlagError(f"Secret {namespace}/{ref.name} not found") from None


@pytest.fixture
def ld() -> FakeLaunchDarkly:
    fake = FakeLaunchDarkly()
    fake.add("shop", new_flag("new-checkout", on={ENV: True, "staging": True}, tags=["team"]))
    return fake


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(ld: FakeLaunchDarkly, clock: Clock) -> LaunchDarklyProvider:
    return LaunchDarklyProvider(
        Secrets(), client=ld.client(), timeout=5.0, sleep=clock.sleep, clock=clock
    )


def target(rollout: str = "web", flag: FeatureFlag | None = None) -> FlagTarget:
    return FlagTarget(namespace="shop", rollout=rollout, flag=flag or ld_flag())


def state(ld: FakeLaunchDarkly) -> tuple[bool, bool, list[str]]:
    """(on in production, on in staging, the tags that are not ours)."""
    flag = ld.flag()
    theirs = sorted(t for t in flag["tags"] if not t.startswith("landinggear-"))
    return flag["environments"][ENV]["on"], flag["environments"]["staging"]["on"], theirs


def ours(ld: FakeLaunchDarkly) -> set[str]:
    return {t for t in ld.flag()["tags"] if t.startswith("landinggear-")}


def tags(rollout: str = "web", handle: str = "new-checkout") -> Tags:
    return Tags.of(environment=ENV, holder=holder("shop", rollout, handle))


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
