"""``spec.featureFlags`` and ``status.featureFlags``: the feature-flag kill switch.

Each entry names one flag in one flag system (exactly one provider:
``openFeature``, ``unleash``, ``launchDarkly`` or ``webhook``) under a handle
(``name``) that the status, the Events and the CLI use. ``disableOn`` says which
events switch it off: ``Abort`` (any abort of a release, by the analysis, the
progress deadline or a person), ``Rollback`` (a person's rollback) and
``GuardFailure`` (the post-promotion guard rolled back). What an anomaly does is
``spec.strategy.canary.onAnomaly`` (:class:`OnAnomaly`).

All four are carried out (:mod:`controller.flags`). Addresses a Rollout names
(Unleash servers, webhooks) must be on the admin's allow-list of flag endpoints;
tokens and signing keys come only from Secrets in the Rollout's namespace.

``status.featureFlags`` holds, per handle, the state the controller wants, the
state the provider last confirmed, what was there before (for an exact
restore), the failed attempts and the last error: everything a restarted
controller needs to carry on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator, model_validator

from controller.api.base import Model, cel
from controller.api.wire import MAX_FLAGS

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
"""A key of a Secret's data."""
URL_PATTERN = r"^https?://"

IMPLEMENTED_PROVIDERS = ("openFeature", "unleash", "launchDarkly", "webhook")
"""Providers this version carries out; the CRD refuses the others at admission."""


class FlagTrigger(StrEnum):
    """What switches a flag off (the values of ``disableOn``)."""

    ABORT = "Abort"
    """Any abort of a release: by the analysis, the progress deadline or a person."""
    ROLLBACK = "Rollback"
    """A person's ``landinggear rollback``."""
    GUARD_FAILURE = "GuardFailure"
    """The post-promotion guard failed (and rolled back, when it could)."""


class OnAnomaly(StrEnum):
    """What a failed analysis does (``spec.strategy.canary.onAnomaly``)."""

    ROLLBACK = "Rollback"
    """Abort the release; aborts leave the flags alone."""
    ROLLBACK_AND_DISABLE_FLAGS = "RollbackAndDisableFlags"
    """Abort the release and switch its flags off."""
    DISABLE_FLAGS = "DisableFlags"
    """Keep the canary at its weight, switch the flags off and judge it again from
    zero; a second failure aborts (the flags stay off)."""

    @property
    def disables_flags_on_abort(self) -> bool:
        return self is not OnAnomaly.ROLLBACK


class FlagState(StrEnum):
    OFF = "Off"
    RESTORED = "Restored"


class SecretKeyRef(Model):
    """One key of a Secret in the Rollout's namespace."""

    name: str = Field(
        min_length=1, max_length=253, description="Name of the Secret in the Rollout's namespace."
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=KEY_PATTERN,
        description="Key within the Secret's data.",
    )


class OpenFeatureFlag(Model):
    """A flag of an OpenFeature Operator ``FeatureFlag`` (core.openfeature.dev) in the
    Rollout's namespace. Off: its ``defaultVariant`` becomes ``offVariant`` and its
    ``targeting`` is removed; both are kept in an annotation on the FeatureFlag, so a
    restore puts back exactly what was there."""

    feature_flag: str = Field(
        min_length=1, max_length=253, description="Name of the FeatureFlag object."
    )
    flag: str = Field(
        min_length=1, max_length=253, description="Key of the flag in spec.flagSpec.flags."
    )
    off_variant: str = Field(
        min_length=1, max_length=253, description="The flag's variant that means off."
    )


class UnleashFlag(Model):
    """A feature of an Unleash server, switched off in one environment through the admin
    API (``/off``, then ``/on`` to restore). The address must be on the controller's
    allow-list of flag endpoints; the token (an admin API token or a personal access
    token) is read from a Secret in the Rollout's namespace."""

    address: str = Field(
        max_length=2048, pattern=URL_PATTERN, description="Base URL of the Unleash server."
    )
    project: str = Field(default="default", min_length=1, max_length=253)
    environment: str = Field(min_length=1, max_length=253)
    feature: str = Field(min_length=1, max_length=253, description="The feature toggle's name.")
    token_secret_ref: SecretKeyRef = Field(description="An admin API or personal access token.")


class LaunchDarklyFlag(Model):
    """A LaunchDarkly flag, turned off in one environment with a semantic patch
    (``turnFlagOff``, then ``turnFlagOn`` to restore) on the admin's LaunchDarkly API
    address (``--launchdarkly-address``); the API access token is read from a Secret in
    the Rollout's namespace."""

    project: str = Field(min_length=1, max_length=253, description="The project key.")
    environment: str = Field(min_length=1, max_length=253, description="The environment key.")
    flag: str = Field(min_length=1, max_length=253, description="The flag key.")
    token_secret_ref: SecretKeyRef = Field(description="An API access token.")


class WebhookFlag(Model):
    """Your own endpoint: a POST of JSON {rollout, flag, action, reason, previous},
    signed with HMAC-SHA256 (``X-Landinggear-Signature``, see
    :mod:`controller.flags.webhook`); 2xx means done. The URL must be on the admin's
    allow-list of flag endpoints."""

    url: str = Field(max_length=2048, pattern=URL_PATTERN, description="Where to POST.")
    secret_ref: SecretKeyRef = Field(description="The HMAC-SHA256 signing key.")


_PROVIDERS = ("openFeature", "unleash", "launchDarkly", "webhook")
_NOT_YET = tuple(p for p in _PROVIDERS if p not in IMPLEMENTED_PROVIDERS)


class FeatureFlag(Model):
    """One flag the kill switch manages: a handle, exactly one provider, and when."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[" + ", ".join(f"has(self.{p})" for p in _PROVIDERS) + "]"
                    ".filter(x, x).size() == 1",
                    "each featureFlags entry needs exactly one provider: openFeature, "
                    "unleash, launchDarkly or webhook",
                ),
                *(
                    [
                        cel(
                            " && ".join(f"!has(self.{p})" for p in _NOT_YET),
                            f"only {' and '.join(IMPLEMENTED_PROVIDERS)} flags are implemented "
                            f"in this version of Landing Gear; {' and '.join(_NOT_YET)} are not",
                        )
                    ]
                    if _NOT_YET
                    else []
                ),
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=NAME_PATTERN,
        description="Handle used in the status, Events and the CLI.",
    )
    open_feature: OpenFeatureFlag | None = Field(default=None, description="OpenFeature flag.")
    unleash: UnleashFlag | None = Field(default=None, description="An Unleash feature.")
    launch_darkly: LaunchDarklyFlag | None = Field(default=None, description="A LaunchDarkly flag.")
    webhook: WebhookFlag | None = Field(default=None, description="Your own endpoint.")
    disable_on: list[FlagTrigger] = Field(
        default_factory=lambda: list(FlagTrigger),
        min_length=1,
        max_length=3,
        description="What switches the flag off: Abort (any abort, automatic or by a "
        "person), Rollback (a person's rollback), GuardFailure. Default: all three.",
    )

    @model_validator(mode="after")
    def _one_provider(self) -> FeatureFlag:
        given = [p for p in _PROVIDERS if getattr(self, _field(p)) is not None]
        if len(given) != 1:
            named = ", ".join(given) if given else "none"
            raise ValueError(
                f"feature flag {self.name!r} needs exactly one provider (openFeature, "
                f"unleash, launchDarkly or webhook); it has {named}"
            )
        return self

    @field_validator("disable_on")
    @classmethod
    def _unique(cls, value: list[FlagTrigger]) -> list[FlagTrigger]:
        if len(set(value)) != len(value):
            raise ValueError("disableOn lists an event twice")
        return value

    @property
    def provider(self) -> str:
        """The provider's name as written in the spec (``openFeature`` …)."""
        return next(p for p in _PROVIDERS if getattr(self, _field(p)) is not None)

    @property
    def target(self) -> str:
        """What the flag is, in words, for the CLI and Events."""
        if self.open_feature is not None:
            return f"FeatureFlag {self.open_feature.feature_flag}, flag {self.open_feature.flag}"
        if self.unleash is not None:
            return f"{self.unleash.address} {self.unleash.project}/{self.unleash.feature}"
        if self.launch_darkly is not None:
            return f"{self.launch_darkly.project}/{self.launch_darkly.flag}"
        assert self.webhook is not None
        return self.webhook.url


def _field(provider: str) -> str:
    return {"openFeature": "open_feature", "launchDarkly": "launch_darkly"}.get(provider, provider)


FEATURE_FLAGS_RULES = [
    cel(
        "!has(self.featureFlags) || self.featureFlags.all(f, "
        "self.featureFlags.exists_one(x, x.name == f.name))",
        "feature flag names must be unique",
        field_path=".featureFlags",
    ),
    cel(
        "!has(self.strategy.canary.onAnomaly) || self.strategy.canary.onAnomaly == 'Rollback' "
        "|| (has(self.featureFlags) && size(self.featureFlags) > 0)",
        "onAnomaly RollbackAndDisableFlags and DisableFlags need spec.featureFlags",
        field_path=".strategy.canary.onAnomaly",
    ),
]
"""CEL rules of ``spec`` about its flags (attached to ``RolloutSpec``)."""


def check_flags(flags: list[FeatureFlag], on_anomaly: OnAnomaly | None) -> None:
    """The spec-level rules of :data:`FEATURE_FLAGS_RULES`, for pydantic."""
    names = [f.name for f in flags]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"feature flag names must be unique: {', '.join(twice)} repeated")
    if on_anomaly is not None and on_anomaly.disables_flags_on_abort and not flags:
        raise ValueError(f"onAnomaly {on_anomaly} needs spec.featureFlags")


# ------------------------------------------------------------------- status


class FlagStatus(Model):
    """One flag: what the controller wants, what its provider confirmed, and why."""

    name: str = Field(description="The flag's handle (spec.featureFlags[].name).")
    wanted: FlagState = Field(description="The state the controller is setting.")
    state: FlagState | None = Field(
        default=None, description="The state the provider last confirmed; none yet if absent."
    )
    reason: str = Field(default="", description="Why the flag is wanted so.")
    by: str = Field(default="", description="Who caused it: a user, or 'controller'.")
    wanted_at: datetime | None = Field(default=None, description="When it was wanted so.")
    changed_at: datetime | None = Field(
        default=None, description="When the provider confirmed the state."
    )
    previous: str = Field(
        default="",
        max_length=32768,
        description="What the flag was before it was switched off, as the provider reported "
        "it (OpenFeature: JSON of defaultVariant and targeting); a restore puts it back.",
    )
    attempts: int = Field(
        default=0, ge=0, description="Failed attempts at the wanted state since it was wanted."
    )
    last_attempt_at: datetime | None = Field(default=None, description="When it was last tried.")
    last_error: str = Field(default="", max_length=1024, description="The last attempt's error.")

    @property
    def pending(self) -> bool:
        """The wanted state is not confirmed yet."""
        return self.state != self.wanted


__all__ = [
    "IMPLEMENTED_PROVIDERS",
    "MAX_FLAGS",
    "FeatureFlag",
    "FlagState",
    "FlagStatus",
    "FlagTrigger",
    "LaunchDarklyFlag",
    "OnAnomaly",
    "OpenFeatureFlag",
    "SecretKeyRef",
    "UnleashFlag",
    "WebhookFlag",
    "check_flags",
]
