"""Authentication, TLS settings and secret hygiene of the Prometheus provider."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from controller.providers import ErrorKind, ProviderConfigError, ProviderError
from controller.providers.prometheus_config import PrometheusConfig, TLSConfig, ssl_context
from e2e.localcluster import pki
from tests.support.aio import synchronously
from tests.unit.providers.fakes import ADDRESS, ScriptedPrometheus, make_provider, vector

SECRET = "s3cr3t-t0ken-value"
QUERY = "up"


def authorization(backend: ScriptedPrometheus, index: int = -1) -> str | None:
    value = backend.requests[index].headers.get("authorization")
    return None if value is None else str(value)


@synchronously
async def test_inline_bearer_token_is_sent() -> None:
    backend = ScriptedPrometheus(vector())
    async with make_provider(backend, bearer_token=SECRET) as provider:
        await provider.query(QUERY)
    assert authorization(backend) == f"Bearer {SECRET}"


@synchronously
async def test_bearer_token_file_is_reread_after_rotation(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    backend = ScriptedPrometheus(vector())
    async with make_provider(backend, bearer_token_file=token) as provider:
        await provider.query(QUERY)
        token.write_text("second-token\n")
        await provider.query(QUERY)
    assert [authorization(backend, i) for i in (0, 1)] == [
        "Bearer first-token",
        "Bearer second-token",
    ]


@synchronously
async def test_basic_auth_with_password() -> None:
    backend = ScriptedPrometheus(vector())
    async with make_provider(
        backend, basic_auth={"username": "lg", "password": SECRET}
    ) as provider:
        await provider.query(QUERY)
    assert authorization(backend) == "Basic " + base64.b64encode(f"lg:{SECRET}".encode()).decode()


@synchronously
async def test_basic_auth_password_file_is_reread(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("one")
    backend = ScriptedPrometheus(vector())
    basic_auth = {"username": "lg", "password_file": str(password)}
    async with make_provider(backend, basic_auth=basic_auth) as provider:
        await provider.query(QUERY)
        password.write_text("two")
        await provider.query(QUERY)
    decoded = [base64.b64decode(authorization(backend, i)[6:]).decode() for i in (0, 1)]  # type: ignore[index]
    assert decoded == ["lg:one", "lg:two"]


@synchronously
async def test_no_credentials_sends_no_authorization_header() -> None:
    backend = ScriptedPrometheus(vector())
    async with make_provider(backend) as provider:
        await provider.query(QUERY)
    assert authorization(backend) is None


@synchronously
async def test_extra_headers_are_sent() -> None:
    backend = ScriptedPrometheus(vector())
    async with make_provider(backend, headers={"X-Scope-OrgID": "tenant-1"}) as provider:
        await provider.query(QUERY)
    assert backend.requests[0].headers["x-scope-orgid"] == "tenant-1"


@synchronously
async def test_missing_token_file_is_a_credentials_error_without_retry(tmp_path: Path) -> None:
    backend = ScriptedPrometheus(vector())
    sleeps: list[float] = []
    missing = tmp_path / "gone"
    async with make_provider(backend, sleeps=sleeps, bearer_token_file=missing) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.query(QUERY)
    assert caught.value.kind is ErrorKind.CREDENTIALS
    assert str(missing) in str(caught.value)
    assert backend.requests == []
    assert sleeps == []


@pytest.mark.parametrize(
    "settings",
    [
        {"bearer_token": SECRET},
        {"basic_auth": {"username": "lg", "password": SECRET}},
        {"headers": {"X-Api-Key": SECRET}},
    ],
)
@synchronously
async def test_secrets_never_appear_in_reprs_dumps_errors_or_logs(settings: dict[str, Any]) -> None:
    backend = ScriptedPrometheus(httpx.Response(503, text="down"), httpx.Response(401, text="no"))
    async with make_provider(backend, retries=1, **settings) as provider:
        with capture_logs() as logs:
            with pytest.raises(ProviderError) as caught:
                await provider.query(QUERY)
            config = PrometheusConfig.model_validate({"address": ADDRESS, **settings})
            shown = [
                repr(provider),
                repr(config),
                str(config),
                config.model_dump_json(),
                str(caught.value),
            ]
    shown += [str(event) for event in logs]
    assert logs, "the retry was logged"
    assert all(SECRET not in text for text in shown)


def test_validation_errors_do_not_echo_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        PrometheusConfig(address="ftp://prom", bearer_token=SECRET)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        PrometheusConfig.model_validate(
            {
                "address": ADDRESS,
                "bearer_token": SECRET,
                "basic_auth": {"username": "u", "password": SECRET},
            }
        )
    assert "choose one authentication method" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("ftp://prom:9090", "http:// or https://"),
        ("prom:9090", "http:// or https://"),
        ("http://user:pass@prom:9090", "must not carry credentials"),
        ("http://prom:9090/?x=1", "query string"),
    ],
)
def test_address_must_be_a_plain_http_url(address: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        PrometheusConfig(address=address)
    assert "pass" not in str(caught.value)


def test_authorization_header_conflicts_with_configured_auth() -> None:
    with pytest.raises(ValidationError, match="Authorization"):
        PrometheusConfig.model_validate(
            {"address": ADDRESS, "bearer_token": SECRET, "headers": {"authorization": "x"}}
        )


def test_basic_auth_needs_exactly_one_password_source(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        PrometheusConfig.model_validate({"address": ADDRESS, "basic_auth": {"username": "u"}})


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    pki.generate(directory)
    return directory


def test_default_tls_verifies_server_and_host_name() -> None:
    context = ssl_context(TLSConfig())
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_ca_file_is_the_only_trusted_authority(pki_dir: Path) -> None:
    context = ssl_context(TLSConfig(ca_file=pki_dir / "ca.crt"))
    authorities: list[Any] = context.get_ca_certs()
    subjects = [{k: v for rdn in ca["subject"] for k, v in rdn} for ca in authorities]
    assert subjects == [{"commonName": "landinggear-local-ca"}]
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_insecure_skip_verify_disables_verification() -> None:
    context = ssl_context(TLSConfig(insecure_skip_verify=True))
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname


def test_client_certificate_and_key_are_loaded(pki_dir: Path) -> None:
    tls = TLSConfig(client_cert_file=pki_dir / "admin.crt", client_key_file=pki_dir / "admin.key")
    assert ssl_context(tls).verify_mode is ssl.CERT_REQUIRED
    mismatched = TLSConfig(
        client_cert_file=pki_dir / "admin.crt", client_key_file=pki_dir / "apiserver.key"
    )
    with pytest.raises(ProviderConfigError, match="could not load TLS files"):
        ssl_context(mismatched)


def test_unreadable_tls_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match=str(tmp_path / "missing.crt")):
        ssl_context(TLSConfig(ca_file=tmp_path / "missing.crt"))


def test_contradictory_tls_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"needs tls\.client_cert_file"):
        TLSConfig(client_key_file=tmp_path / "k")
    with pytest.raises(ValidationError, match="contradict"):
        TLSConfig(ca_file=tmp_path / "ca", insecure_skip_verify=True)
