"""The metric and feature-flag backends ``landinggear run`` talks to, built from its settings."""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from controller.flags import FlagSwitches
from controller.flags.endpoints import EndpointPolicy
from controller.flags.launchdarkly import LaunchDarklyProvider
from controller.flags.openfeature import OpenFeatureProvider
from controller.flags.secrets import CachedSecrets, KubeSecrets
from controller.flags.unleash import UnleashProvider
from controller.flags.webhook import WebhookProvider
from controller.providers.prometheus_config import BasicAuth, PrometheusConfig, TLSConfig
from controller.settings import Settings

__all__ = ["flag_switches", "metric_secrets", "prometheus_default"]


def flag_switches(
    api: client.ApiClient,
    settings: Settings,
    *,
    on_error: Callable[[str, str], None] | None = None,
) -> FlagSwitches:
    """The feature-flag providers, with the admin's allow-list and flag timeout;
    ``on_error`` is told ``(provider, kind)`` of each failure."""
    secrets = KubeSecrets(api, timeout=(5.0, settings.flag_timeout))
    endpoints = EndpointPolicy(settings.flag_endpoints)
    return FlagSwitches(
        [
            OpenFeatureProvider(api),
            UnleashProvider(secrets, endpoints, timeout=settings.flag_timeout),
            LaunchDarklyProvider(
                secrets, base_url=settings.launchdarkly_address, timeout=settings.flag_timeout
            ),
            WebhookProvider(secrets, endpoints, timeout=settings.flag_timeout),
        ],
        on_error=on_error,
    )


def prometheus_default(settings: Settings) -> PrometheusConfig | None:
    """The controller-wide Prometheus (``--prometheus-*``), or None when no address is set."""
    if settings.prometheus_address is None:
        return None
    basic = None
    if settings.prometheus_username is not None:
        basic = BasicAuth.model_validate(
            {"username": settings.prometheus_username,
             "password_file": settings.prometheus_password_file}
        )  # fmt: skip
    return PrometheusConfig.model_validate(
        {
            "address": settings.prometheus_address,
            "timeout_seconds": settings.prometheus_timeout,
            "bearer_token_file": settings.prometheus_bearer_token_file,
            "basic_auth": basic,
            "tls": TLSConfig.model_validate({"ca_file": settings.prometheus_ca_file}),
        }
    )


METRIC_SECRET_TTL = 60.0
"""Seconds a metric's ``bearerTokenSecret`` is kept: a rotated token is used within
a minute, and a Rollout looking every few seconds costs one GET a minute, not one a look."""


def metric_secrets(api: client.ApiClient, settings: Settings) -> CachedSecrets:
    """Reads a Rollout's ``prometheus.bearerTokenSecret`` (in its own namespace, where its
    owner grants the controller ``get`` on that Secret), kept ``METRIC_SECRET_TTL``."""
    source = KubeSecrets(
        api,
        timeout=(5.0, settings.prometheus_timeout),
        see="README: Install on a cluster, Prometheus address allow-list",
    )
    return CachedSecrets(source, ttl=METRIC_SECRET_TTL)
