"""What the LaunchDarkly provider's tests share: the Rollout side of the contract test.

The flags the Rollouts name, their Secrets, a clock the rate-limit waits advance,
and short ways to read the fake's flag (``tests.unit.flags.launchdarkly_api``).
"""

from __future__ import annotations

from controller.api.flags import FeatureFlag, SecretKeyRef
from controller.flags import FlagError, FlagTarget
from controller.flags.launchdarkly_plan import Tags, holder
from tests.unit.flags.launchdarkly_api import TOKEN, FakeLaunchDarkly

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


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


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
