"""Flag actions become results: the OpenFeature provider against a fake API, and
providers that do not exist yet.

The provider's requests go to a fake that answers as the API server does for
GET and JSON Patch (409 when the object changed since it was read); the real
API server is exercised by the cluster tests of a later slice.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from controller.api.flags import FeatureFlag, FlagState
from controller.core.actions import RestoreFlag, SwitchFlagOff
from controller.flags import FlagSwitches
from controller.flags import openfeature as module
from controller.flags.openfeature import OpenFeatureProvider
from tests.unit.flags.featureflags import Conflict, apply_patch, feature_flag, records

FLAG = FeatureFlag.model_validate(
    {
        "name": "new-checkout",
        "openFeature": {
            "featureFlag": "checkout-flags",
            "flag": "new-checkout",
            "offVariant": "off",
        },
    }
)


class FakeServer:
    """One FeatureFlag; ``interfere`` changes it between a GET and the PATCH that many times."""

    def __init__(self) -> None:
        flag = {"variants": {"on": 1, "off": 0}, "defaultVariant": "on", "state": "ENABLED"}
        self.obj = feature_flag({"new-checkout": flag})
        self.interfere = 0
        self.down = False
        self.requests: list[str] = []

    def __call__(self, api: Any, method: str, path: str, **kwargs: Any) -> Any:
        self.requests.append(method)
        if self.down:
            raise ApiException(status=503, reason="Service Unavailable")
        assert (
            path == "/apis/core.openfeature.dev/v1beta1/namespaces/shop/featureflags/checkout-flags"
        )
        if method == "GET":
            return json.loads(json.dumps(self.obj))
        assert kwargs["content_type"] == "application/json-patch+json"
        if self.interfere:
            self.interfere -= 1
            self.obj["metadata"]["resourceVersion"] += "0"
        try:
            self.obj = apply_patch(self.obj, kwargs["body"])
        except Conflict:
            raise ApiException(status=409, reason="Conflict") from None
        return self.obj


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()
    monkeypatch.setattr(module, "request_json", fake)
    return fake


def switches() -> FlagSwitches:
    return FlagSwitches([OpenFeatureProvider(api=None)])  # type: ignore[arg-type]


def test_switch_off_then_restore_through_the_api(server: FakeServer) -> None:
    off = switches().apply(
        namespace="shop", rollout="web", action=SwitchFlagOff(flag=FLAG, reason="Abort: x")
    )
    assert off.state is FlagState.OFF
    assert off.error == ""
    assert json.loads(off.previous) == {"defaultVariant": "on"}
    assert server.obj["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] == "off"

    back = switches().apply(
        namespace="shop", rollout="web", action=RestoreFlag(flag=FLAG, previous=off.previous)
    )
    assert (back.state, back.error) == (FlagState.RESTORED, "")
    assert server.obj["spec"]["flagSpec"]["flags"]["new-checkout"]["defaultVariant"] == "on"
    assert records(server.obj) == {}


def test_a_conflict_reads_the_flag_again(server: FakeServer) -> None:
    server.interfere = 2
    result = switches().apply(
        namespace="shop", rollout="web", action=SwitchFlagOff(flag=FLAG, reason="Abort: x")
    )
    assert result.error == ""
    assert server.requests == ["GET", "PATCH", "GET", "PATCH", "GET", "PATCH"]


def test_a_flag_that_keeps_changing_or_an_api_error_is_an_error_result(server: FakeServer) -> None:
    server.interfere = 3
    action = SwitchFlagOff(flag=FLAG, reason="Abort: x")
    result = switches().apply(namespace="shop", rollout="web", action=action)
    assert "changed under us 3 times" in result.error

    server.down = True
    result = switches().apply(namespace="shop", rollout="web", action=action)
    assert result.error == "GET FeatureFlag shop/checkout-flags: 503 Service Unavailable"


def test_a_provider_this_version_does_not_have_is_reported_not_faked() -> None:
    webhook = FeatureFlag.model_validate(
        {"name": "hook", "webhook": {"url": "https://x", "secretRef": {"name": "s", "key": "k"}}}
    )
    result = switches().apply(
        namespace="shop", rollout="web", action=SwitchFlagOff(flag=webhook, reason="Abort: x")
    )
    assert result.state is FlagState.OFF
    assert result.error == (
        "webhook flags are not implemented in this version of Landing Gear (only openFeature)"
    )


def test_the_actuator_returns_the_answers_of_the_flag_actions_in_order(server: FakeServer) -> None:
    from controller.reconcile.actuator import Actuator, Target

    actuator = Actuator(api=None, routers=[], flags=switches())  # type: ignore[arg-type]
    target = Target(
        obj={"metadata": {"name": "web", "namespace": "shop", "uid": "u"}},
        deployment=None,
        replica_sets={},
    )
    answers = actuator.apply(
        target,
        (SwitchFlagOff(flag=FLAG, reason="Abort: x"), RestoreFlag(flag=FLAG, previous="")),
    )
    assert [(a.state, a.error) for a in answers] == [
        (FlagState.OFF, ""),
        (FlagState.RESTORED, ""),
    ]
    assert records(server.obj) == {}
