"""The admin's rules for metric queries: allowed addresses, threshold namespaces (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.providers import ProviderConfigError
from controller.providers.access import MetricAccess

DEFAULT = "http://prometheus.monitoring:9090"


def refusal(access: MetricAccess, address: str) -> str | None:
    try:
        access.check_address(address)
    except ProviderConfigError as err:
        return str(err)
    return None


def test_the_default_address_is_always_allowed_and_nothing_else_by_default() -> None:
    access = MetricAccess(default=DEFAULT)
    assert refusal(access, DEFAULT) is None
    assert refusal(access, "http://PROMETHEUS.monitoring:9090/") is None
    why = refusal(access, "http://169.254.169.254/latest")
    assert why == (
        "http://169.254.169.254/latest is not an allowed Prometheus address (allowed: "
        f"{DEFAULT}); the controller's admin adds it with --prometheus-endpoint or "
        "LANDINGGEAR_PROMETHEUS_ENDPOINTS"
    )


def test_without_a_default_or_a_list_every_address_is_refused() -> None:
    why = refusal(MetricAccess(default=None), "http://prom:9090")
    assert why is not None
    assert "allowed: none configured" in why


def test_listed_prefixes_allow_addresses_under_them_only() -> None:
    access = MetricAccess(default=DEFAULT, endpoints=["https://mimir.example/prometheus"])
    assert refusal(access, "https://mimir.example/prometheus") is None
    assert refusal(access, "https://mimir.example/prometheus/tenant-a") is None
    assert refusal(access, "https://mimir.example/prometheusx") is not None
    assert refusal(access, "http://mimir.example/prometheus") is not None  # another scheme
    assert refusal(access, "https://mimir.example:8443/prometheus") is not None
    assert refusal(access, "https://mimir.example/prometheus/../admin") is not None


def test_a_bad_prefix_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        MetricAccess(default=None, endpoints=["ftp://x"])


def threshold_refusal(access: MetricAccess, namespace: str, address: str) -> str | None:
    try:
        access.check_threshold(namespace, address)
    except ProviderConfigError as err:
        return str(err)
    return None


def test_threshold_rules_run_on_the_default_prometheus_only_in_allowed_namespaces() -> None:
    access = MetricAccess(default=DEFAULT, threshold_namespaces=["shop"])
    assert threshold_refusal(access, "shop", DEFAULT) is None
    why = threshold_refusal(access, "other", DEFAULT)
    assert why is not None
    assert why.startswith(
        f"threshold rules of namespace other may not run on the controller's default "
        f"Prometheus {DEFAULT}: the controller's admin allows the namespace with "
        "--threshold-namespace or LANDINGGEAR_THRESHOLD_NAMESPACES"
    )
    # a path under the default, or its host in another case, is still the default
    assert threshold_refusal(access, "other", f"{DEFAULT}/x") is not None
    assert threshold_refusal(access, "other", DEFAULT.upper().replace("HTTP:", "http:")) is not None


def test_a_star_allows_every_namespace() -> None:
    access = MetricAccess(default=DEFAULT, threshold_namespaces=["*"])
    assert threshold_refusal(access, "anything", DEFAULT) is None


def test_threshold_rules_on_another_address_need_no_namespace_allowance() -> None:
    access = MetricAccess(default=DEFAULT, endpoints=["http://team-prom:9090"])
    assert threshold_refusal(access, "shop", "http://team-prom:9090") is None
    assert threshold_refusal(MetricAccess(default=None), "shop", "http://team-prom:9090") is None


def test_a_rollouts_own_credentials_never_go_to_the_default() -> None:
    access = MetricAccess(default=DEFAULT, endpoints=["http://team-prom:9090"])
    access.check_own_credentials("http://team-prom:9090")
    with pytest.raises(ProviderConfigError, match="not the controller's default"):
        access.check_own_credentials(DEFAULT)


namespaces = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)


@given(allowed=st.lists(namespaces, max_size=4), namespace=namespaces)
def test_a_namespace_runs_threshold_rules_on_the_default_iff_listed(
    allowed: list[str], namespace: str
) -> None:
    access = MetricAccess(default=DEFAULT, threshold_namespaces=allowed)
    assert (threshold_refusal(access, namespace, DEFAULT) is None) == (namespace in allowed)


hosts = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True)


@given(
    host=hosts,
    port=st.integers(1, 65535),
    path=st.from_regex(r"(/[a-z]{1,5}){0,3}", fullmatch=True),
)
def test_an_address_is_allowed_iff_under_the_default_or_a_listed_prefix(
    host: str, port: int, path: str
) -> None:
    access = MetricAccess(default="http://prom:9090", endpoints=["http://allowed:9090/p"])
    address = f"http://{host}:{port}{path}"
    expected = (host, port) == ("prom", 9090) or (
        (host, port) == ("allowed", 9090) and (path == "/p" or path.startswith("/p/"))
    )
    assert (refusal(access, address) is None) == expected
