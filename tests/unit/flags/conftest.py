"""Fixtures of the LaunchDarkly provider's tests: the fake API, a fake clock, the provider."""

from __future__ import annotations

import pytest

from controller.flags.launchdarkly import LaunchDarklyProvider
from tests.unit.flags.launchdarkly_api import FakeLaunchDarkly, new_flag
from tests.unit.flags.launchdarkly_setup import ENV, Clock, Secrets


@pytest.fixture
def ld() -> FakeLaunchDarkly:
    fake = FakeLaunchDarkly()
    fake.add("shop", new_flag("new-checkout", on={ENV: True, "staging": True}, tags=["team"]))
    return fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(ld: FakeLaunchDarkly, clock: Clock) -> LaunchDarklyProvider:
    return LaunchDarklyProvider(
        Secrets(), client=ld.client(), timeout=5.0, sleep=clock.sleep, clock=clock
    )
