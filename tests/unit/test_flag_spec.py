"""``spec.featureFlags`` and ``onAnomaly``: what the models accept, refuse, and default."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controller.api.flags import IMPLEMENTED_PROVIDERS, FlagTrigger, OnAnomaly
from controller.api.v1alpha1 import RolloutSpec
from tests.unit.test_crd_schema import MANIFEST

WEBHOOK = {"url": "https://x", "secretRef": {"name": "flag-tokens", "key": "token"}}
OPEN_FEATURE = {"featureFlag": "checkout-flags", "flag": "new-checkout", "offVariant": "off"}
SECRET = {"name": "flag-tokens", "key": "token"}


def spec(flags: list[dict[str, Any]], **canary: Any) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {"workloadRef": {"name": "web"}, "strategy": {"canary": canary}, "featureFlags": flags}
    )


def test_an_open_feature_flag_defaults_to_all_three_triggers_and_rollback_with_flags_off() -> None:
    parsed = spec([{"name": "new-checkout", "openFeature": OPEN_FEATURE}])

    flag = parsed.feature_flags[0]
    assert flag.provider == "openFeature"
    assert flag.disable_on == [FlagTrigger.ABORT, FlagTrigger.ROLLBACK, FlagTrigger.GUARD_FAILURE]
    assert parsed.anomaly_policy is OnAnomaly.ROLLBACK_AND_DISABLE_FLAGS


def test_without_flags_an_anomaly_only_rolls_back() -> None:
    assert spec([]).anomaly_policy is OnAnomaly.ROLLBACK
    assert spec([], onAnomaly="Rollback").anomaly_policy is OnAnomaly.ROLLBACK


@pytest.mark.parametrize(
    "provider",
    [
        {"openFeature": OPEN_FEATURE},
        {
            "unleash": {
                "address": "http://unleash:4242",
                "environment": "production",
                "feature": "new-checkout",
                "tokenSecretRef": SECRET,
            }
        },
        {
            "launchDarkly": {
                "project": "shop",
                "environment": "production",
                "flag": "new-checkout",
                "tokenSecretRef": SECRET,
            }
        },
        {"webhook": {"url": "https://flags.example/kill", "secretRef": SECRET}},
    ],
)
def test_each_provider_shape_parses(provider: dict[str, Any]) -> None:
    parsed = spec(
        [{"name": "f", "disableOn": ["GuardFailure"], **provider}], onAnomaly="DisableFlags"
    )

    assert parsed.feature_flags[0].provider == next(iter(provider))
    assert parsed.anomaly_policy is OnAnomaly.DISABLE_FLAGS


@pytest.mark.parametrize(
    ("flags", "canary", "message"),
    [
        ([{"name": "f"}], {}, "needs exactly one provider .* it has none"),
        (
            [{"name": "f", "openFeature": OPEN_FEATURE, "webhook": WEBHOOK}],
            {},
            "exactly one provider .* it has openFeature, webhook",
        ),
        (
            [{"name": "f", "openFeature": OPEN_FEATURE}] * 2,
            {},
            "names must be unique: f repeated",
        ),
        ([], {"onAnomaly": "DisableFlags"}, "onAnomaly DisableFlags needs spec.featureFlags"),
        ([], {"onAnomaly": "RollbackAndDisableFlags"}, "needs spec.featureFlags"),
        ([{"name": "f", "openFeature": OPEN_FEATURE, "disableOn": []}], {}, "at least 1 item"),
        (
            [{"name": "f", "openFeature": OPEN_FEATURE, "disableOn": ["Abort", "Abort"]}],
            {},
            "disableOn lists an event twice",
        ),
        ([{"name": "f", "openFeature": OPEN_FEATURE, "disableOn": ["Promote"]}], {}, "Abort"),
        ([{"name": "F_1", "openFeature": OPEN_FEATURE}], {}, "should match pattern"),
        ([{"name": "f", "openFeature": {"featureFlag": "x", "flag": "y"}}], {}, "offVariant"),
        (
            [{"name": "f", "webhook": {"url": "ftp://x", "secretRef": SECRET}}],
            {},
            "should match pattern",
        ),
        (
            [{"name": "f", "webhook": {"url": "https://x", "secretRef": {"name": "s"}}}],
            {},
            "secretRef.key",
        ),
        ([], {"onAnomaly": "Ignore"}, "Rollback"),
    ],
)  # fmt: skip
def test_bad_flag_specs_are_refused_with_a_clear_message(
    flags: list[dict[str, Any]], canary: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(flags, **canary)


def _flag_schema() -> dict[str, Any]:
    doc = yaml.safe_load(MANIFEST.read_text())
    spec_schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return dict(spec_schema)


ALL_PROVIDERS = ("openFeature", "unleash", "launchDarkly", "webhook")


def test_the_crd_refuses_providers_that_are_not_implemented_yet_with_a_message() -> None:
    rules = _flag_schema()["properties"]["featureFlags"]["items"]["x-kubernetes-validations"]
    by_message = {r["message"]: r["rule"] for r in rules}

    missing = [p for p in ALL_PROVIDERS if p not in IMPLEMENTED_PROVIDERS]
    not_yet = [m for m in by_message if "not yet" in m]
    assert any("exactly one provider" in m for m in by_message)
    if not missing:
        assert not_yet == []
        return
    assert len(not_yet) == 1
    assert "only openFeature and unleash flags are implemented" in not_yet[0]
    assert by_message[not_yet[0]] == " && ".join(f"!has(self.{p})" for p in missing)


def test_the_crd_checks_flag_names_and_that_on_anomaly_with_flags_has_flags() -> None:
    rules = {r["message"]: r for r in _flag_schema()["x-kubernetes-validations"]}

    assert rules["feature flag names must be unique"]["fieldPath"] == ".featureFlags"
    needs = rules["onAnomaly RollbackAndDisableFlags and DisableFlags need spec.featureFlags"]
    assert needs["fieldPath"] == ".strategy.canary.onAnomaly"
