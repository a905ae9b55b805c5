"""Settings for one Prometheus-compatible endpoint, and how a per-metric override merges.

Credentials are ``SecretStr`` (masked in ``repr`` and dumps) or file paths read
before every request, so rotated tokens work without a restart. Validation
errors never echo the input (``hide_input_in_errors``), so a typo next to a
token cannot print the token.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from controller.providers import ProviderConfigError

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_AUTH_FIELDS = ("bearer_token", "bearer_token_file", "basic_auth")
_TRANSPORT_FIELDS = (
    "timeout_seconds",
    "connect_timeout_seconds",
    "retries",
    "retry_budget_seconds",
)


class _Settings(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True
    )


class BasicAuth(_Settings):
    """HTTP basic authentication; exactly one of ``password`` or ``password_file``."""

    username: str
    """User name (not treated as a secret)."""
    password: SecretStr | None = None
    """The password itself; prefer ``password_file`` (e.g. a mounted Secret)."""
    password_file: Path | None = None
    """File holding the password, read before every request; surrounding whitespace is dropped."""

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("basic_auth needs exactly one of password or password_file")
        return self


class TLSConfig(_Settings):
    """How to verify the server and which client certificate, if any, to present."""

    ca_file: Path | None = None
    """PEM bundle of the CAs trusted for the server; default: the certifi bundle
    (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``)."""
    insecure_skip_verify: bool = False
    """Accept any server certificate and host name. For tests only."""
    client_cert_file: Path | None = None
    """PEM client certificate for mutual TLS (may also hold the key)."""
    client_key_file: Path | None = None
    """PEM private key of ``client_cert_file`` when kept in its own file."""

    @model_validator(mode="after")
    def _consistent(self) -> TLSConfig:
        if self.client_key_file is not None and self.client_cert_file is None:
            raise ValueError("tls.client_key_file needs tls.client_cert_file")
        if self.insecure_skip_verify and self.ca_file is not None:
            raise ValueError("tls.ca_file and tls.insecure_skip_verify contradict each other")
        return self


def _check_address(address: str) -> str:
    try:
        url = httpx.URL(address)
    except httpx.InvalidURL as err:
        raise ValueError(f"address is not a URL: {err}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("address must be an http:// or https:// URL with a host")
    if url.userinfo:
        raise ValueError("address must not carry credentials; use basic_auth or bearer_token")
    if url.query or url.fragment:
        raise ValueError("address must not have a query string or fragment")
    return address.rstrip("/")


def _check_headers(headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
    for name in headers:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid HTTP header name {name!r}")
    return headers


Address = Annotated[str, AfterValidator(_check_address)]
Headers = Annotated[dict[str, SecretStr], AfterValidator(_check_headers)]


def _check_auth(values: BaseModel) -> None:
    chosen = [name for name in _AUTH_FIELDS if getattr(values, name) is not None]
    if len(chosen) > 1:
        raise ValueError(f"choose one authentication method, not {' and '.join(chosen)}")
    headers: dict[str, SecretStr] = getattr(values, "headers", None) or {}
    if chosen and any(name.lower() == "authorization" for name in headers):
        raise ValueError(f"headers set Authorization, which {chosen[0]} also sets")


class PrometheusConfig(_Settings):
    """One Prometheus-compatible query endpoint (Prometheus, Thanos, Mimir, VictoriaMetrics)."""

    address: Address
    """Base URL, e.g. ``http://prometheus.monitoring:9090`` or ``https://mimir/prometheus``;
    ``/api/v1/query`` is appended. No credentials in the URL."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """How long one attempt may take; Prometheus is asked to stop evaluating a little earlier."""
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    """How long establishing a connection may take."""
    retries: int = Field(default=3, ge=0, le=10)
    """Further attempts after the first on connection errors, timeouts and 429/502/503/504."""
    retry_budget_seconds: float = Field(default=30.0, gt=0, le=600)
    """No retry starts if it would end its backoff beyond this long after the first attempt."""
    bearer_token: SecretStr | None = None
    """Sent as ``Authorization: Bearer …``; prefer ``bearer_token_file``."""
    bearer_token_file: Path | None = None
    """File holding the bearer token, read before every request (e.g. a projected
    ServiceAccount token, which the kubelet rotates)."""
    basic_auth: BasicAuth | None = None
    """HTTP basic authentication (exclusive with the bearer token)."""
    tls: TLSConfig = Field(default_factory=TLSConfig)
    """Server verification and client certificate."""
    headers: Headers = Field(default_factory=dict)
    """Extra request headers (e.g. ``X-Scope-OrgID``); values are masked like secrets."""

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusConfig:
        _check_auth(self)
        return self


class PrometheusOverride(_Settings):
    """A metric's own settings; each field it sets replaces the default's (see ``resolve``).

    Fields mean what they mean in ``PrometheusConfig``; all are optional.
    """

    address: Address | None = None
    """Query this endpoint instead of the default one."""
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    connect_timeout_seconds: float | None = Field(default=None, gt=0, le=60)
    retries: int | None = Field(default=None, ge=0, le=10)
    retry_budget_seconds: float | None = Field(default=None, gt=0, le=600)
    bearer_token: SecretStr | None = None
    bearer_token_file: Path | None = None
    basic_auth: BasicAuth | None = None
    tls: TLSConfig | None = None
    headers: Headers | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusOverride:
        _check_auth(self)
        return self


def resolve(
    default: PrometheusConfig | None, override: PrometheusOverride | None
) -> PrometheusConfig:
    """The settings one metric queries with: the controller-wide default, adjusted by the metric.

    * No override: the default. Neither: ``ProviderConfigError``.
    * An override naming a *different* address is a different server: it
      inherits only timeouts and retries, never the default's credentials,
      TLS settings or headers (they belong to the default's server).
    * Otherwise each field the override sets replaces the default's; setting any
      of ``bearer_token``, ``bearer_token_file``, ``basic_auth`` replaces all three.
    """
    if override is None:
        if default is None:
            raise ProviderConfigError(
                "no Prometheus address: set the controller's default address "
                "or an address on the metric"
            )
        return default
    given: dict[str, Any] = {name: getattr(override, name) for name in override.model_fields_set}
    if default is None or given.get("address", default.address) != default.address:
        if given.get("address") is None:
            raise ProviderConfigError("no Prometheus address: the metric's override has none")
        base = {} if default is None else {f: getattr(default, f) for f in _TRANSPORT_FIELDS}
    else:
        base = {name: getattr(default, name) for name in PrometheusConfig.model_fields}
        if any(name in given for name in _AUTH_FIELDS):
            base = {k: v for k, v in base.items() if k not in _AUTH_FIELDS}
    merged = {**base, **{k: v for k, v in given.items() if v is not None}}
    try:
        return PrometheusConfig.model_validate(merged)
    except ValidationError as err:
        raise ProviderConfigError(
            f"invalid Prometheus settings after the override: {err}"
        ) from None


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """The ``verify`` context for httpx: trusted CAs, host-name checking, client certificate."""
    try:
        if tls.insecure_skip_verify:
            context = httpx.create_ssl_context(verify=False)
        elif tls.ca_file is not None:
            context = ssl.create_default_context(cafile=str(tls.ca_file))
        else:
            context = httpx.create_ssl_context()
        if tls.client_cert_file is not None:
            key = None if tls.client_key_file is None else str(tls.client_key_file)
            context.load_cert_chain(str(tls.client_cert_file), key)
    except (OSError, ssl.SSLError) as err:
        files = [str(f) for f in (tls.ca_file, tls.client_cert_file, tls.client_key_file) if f]
        raise ProviderConfigError(
            f"could not load TLS files {', '.join(files)}: {err.__class__.__name__}"
        ) from None
    return context
