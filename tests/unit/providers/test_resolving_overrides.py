"""A metric's own Prometheus settings over the controller-wide default."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.providers import ProviderConfigError
from controller.providers.prometheus_config import (
    PrometheusConfig,
    PrometheusOverride,
    TLSConfig,
    resolve,
)

DEFAULT = PrometheusConfig.model_validate(
    {
        "address": "http://prometheus.monitoring:9090/",
        "timeout_seconds": 5,
        "retries": 2,
        "basic_auth": {"username": "lg", "password": "pw"},
        "tls": {"insecure_skip_verify": True},
        "headers": {"X-Scope-OrgID": "team-a"},
    }
)


def test_neither_default_nor_override_is_a_clear_error() -> None:
    with pytest.raises(ProviderConfigError, match="no Prometheus address"):
        resolve(None, None)
    with pytest.raises(ProviderConfigError, match="no Prometheus address"):
        resolve(None, PrometheusOverride(timeout_seconds=3))


def test_no_override_is_the_default() -> None:
    assert resolve(DEFAULT, None) is DEFAULT


def test_override_alone_needs_only_an_address() -> None:
    resolved = resolve(None, PrometheusOverride(address="https://thanos:10902"))
    assert resolved == PrometheusConfig(address="https://thanos:10902")


def test_same_server_override_replaces_only_the_fields_it_sets() -> None:
    override = PrometheusOverride(address="http://prometheus.monitoring:9090", timeout_seconds=20)
    resolved = resolve(DEFAULT, override)
    assert resolved.timeout_seconds == 20
    assert resolved.retries == 2
    assert resolved.basic_auth == DEFAULT.basic_auth
    assert resolved.headers == DEFAULT.headers


def test_override_credentials_replace_the_default_credentials_as_a_group(tmp_path: Path) -> None:
    resolved = resolve(DEFAULT, PrometheusOverride(bearer_token_file=tmp_path / "token"))
    assert resolved.bearer_token_file == tmp_path / "token"
    assert resolved.basic_auth is None


def test_different_server_inherits_no_credentials_tls_or_headers() -> None:
    resolved = resolve(DEFAULT, PrometheusOverride(address="https://other.example:9090"))
    assert resolved.address == "https://other.example:9090"
    assert resolved.basic_auth is None
    assert resolved.headers == {}
    assert resolved.tls == TLSConfig()
    assert (resolved.timeout_seconds, resolved.retries) == (5, 2)


def test_contradiction_after_merging_is_a_config_error() -> None:
    override = PrometheusOverride.model_validate({"headers": {"Authorization": "Bearer x"}})
    with pytest.raises(ProviderConfigError, match="Authorization") as caught:
        resolve(DEFAULT, override)
    assert "pw" not in str(caught.value)
