"""No credential the controller handles ever shows up in a log line, an Event or a status.

Each secret is a unique canary value, configured the way an admin or a Rollout
author would: the default Prometheus' bearer-token and password files, the
Unleash and LaunchDarkly API tokens, the webhook signing key and a Rollout's
own Prometheus token (``bearerTokenSecret``) in Secrets (read through a
loopback stand-in of the API server). The backends are a real HTTP server on
loopback that fails every request (401, 403, 500, 400, 404) and echoes the
request's headers back in its body, as a naive proxy's error page would; a
Rollout's Prometheus address carrying the canary as URL userinfo is tried too.
Everything the process logs (structlog and the standard library, at debug),
every look's error and every flag result (which become the status and the
Events) is searched for each canary.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from kubernetes import config

from controller import logs
from controller.api.flags import FeatureFlag
from controller.api.v1alpha1 import Rollout
from controller.backends import flag_switches, metric_secrets, prometheus_default
from controller.core.actions import FlagResult, RestoreFlag, SwitchFlagOff
from controller.core.measurements import Measurement
from controller.reconcile.analyst import Analyst
from controller.settings import Settings
from tests.support.echoing import STATUSES, EchoingBackend
from tests.support.fake_api import FakeApi

CANARIES = {
    "prometheus-token": "canary-prom-bearer-91a7c3",
    "prometheus-password": "canary-prom-password-5d02be",
    "unleash": "canary-unleash-token-7c41f0",
    "launchdarkly": "api-canary-ld-token-33e9a1",
    "webhook": "canary-webhook-key-e18b42",
    "userinfo": "canary-url-password-0f6d2a",
    "prometheus-secret": "canary-prom-secret-token-8e27d4",
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def backend() -> Iterator[EchoingBackend]:
    server = EchoingBackend()
    yield server
    server.stop()


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Everything logged, by structlog and the standard library, at debug."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("debug", stream=stream)
    yield stream
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.captureWarnings(False)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeApi]:
    """The Secrets, as the API server would serve them."""
    api = FakeApi().start()
    for name, key in (
        ("unleash", "unleash"),
        ("ld", "launchdarkly"),
        ("hook", "webhook"),
        ("prom", "prometheus-secret"),
    ):
        encoded = base64.b64encode(CANARIES[key].encode()).decode()
        api.answer(
            "GET",
            f"/api/v1/namespaces/shop/secrets/{name}",
            200,
            {"kind": "Secret", "data": {"token": encoded}},
        )
    yield api
    api.stop()


def assert_no_canary(where: str, text: str) -> None:
    for name, canary in CANARIES.items():
        assert canary not in text, f"the {name} secret leaked into {where}"
        encoded = base64.b64encode(canary.encode()).decode()
        assert encoded[:20] not in text, f"the {name} secret leaked (base64) into {where}"


def rollout(
    metrics: list[dict[str, Any]], address: str | None = None, secret: str | None = None
) -> Rollout:
    analysis: dict[str, Any] = {"interval": "10s", "metrics": metrics}
    if address:
        analysis["prometheus"] = {"address": address}
    if secret:
        analysis["prometheus"]["bearerTokenSecret"] = {"name": secret, "key": "token"}
    return Rollout.model_validate(
        {
            "name": "web",
            "namespace": "shop",
            "spec": {
                "workloadRef": {"name": "web"},
                "strategy": {"canary": {"steps": [{"setWeight": 50}], "analysis": analysis}},
            },
            "status": {
                "stableRevision": "aaa",
                "canaryRevision": "bbb",
                "analysis": {
                    "revision": "bbb",
                    "startedAt": T0.isoformat(),
                    "metrics": [{"name": "errors", "measuredAt": T0.isoformat()}],
                },
            },
        }
    )


def looks(analyst: Analyst, target: Rollout, times: int) -> list[Measurement]:
    async def run() -> list[Measurement]:
        found: list[Measurement] = []
        for n in range(times):
            taken = await analyst.measure(target, T0 + timedelta(seconds=10 * (n + 1)))
            assert taken is not None
            found += taken.results
        await analyst.aclose()
        return found

    return asyncio.run(run())


THRESHOLD = {"name": "errors", "threshold": {"query": "up", "success": "> 0"}}
COMPARISON = {"name": "errors", "builtin": "app-errors"}


def test_prometheus_credentials_never_leak(
    backend: EchoingBackend, output: io.StringIO, tmp_path: Path
) -> None:
    token, password = tmp_path / "token", tmp_path / "password"
    token.write_text(CANARIES["prometheus-token"] + "\n")
    password.write_text(CANARIES["prometheus-password"] + "\n")
    results: list[Measurement] = []
    for settings in (
        Settings(prometheus_address=backend.url, prometheus_bearer_token_file=str(token)),
        Settings(
            prometheus_address=backend.url,
            prometheus_username="lg",
            prometheus_password_file=str(password),
        ),
    ):
        analyst = Analyst(default=prometheus_default(settings), threshold_namespaces=["shop"])
        for metric in (THRESHOLD, COMPARISON):
            results += looks(analyst, rollout([metric]), times=3)
    with_userinfo = backend.url.replace("://", f"://lg:{CANARIES['userinfo']}@")
    analyst = Analyst(default=None, endpoints=[backend.url])
    results += looks(analyst, rollout([THRESHOLD], address=with_userinfo), times=1)

    assert backend.answered >= 10  # the requests were sent, with the secrets, and failed
    basic = base64.b64encode(f"lg:{CANARIES['prometheus-password']}".encode()).decode()
    assert any(CANARIES["prometheus-token"] in h for h in backend.received)
    assert any(basic in h for h in backend.received)
    assert all(r.error or r.invalid for r in results)
    assert_no_canary("a look's error (the status)", repr(results))
    assert_no_canary("the log", output.getvalue())
    assert "Measurement failed" in output.getvalue()


def test_a_rollouts_prometheus_token_from_a_secret_never_leaks(
    backend: EchoingBackend, kube: FakeApi, output: io.StringIO, tmp_path: Path
) -> None:
    api = config.new_client_from_config(config_file=str(kube.kubeconfig(tmp_path)))  # type: ignore[no-untyped-call]
    analyst = Analyst(
        default=None, endpoints=[backend.url], secrets=metric_secrets(api, Settings())
    )
    target = rollout([THRESHOLD], address=backend.url, secret="prom")
    results = looks(analyst, target, times=len(STATUSES))

    # kept a minute, but read again after each 401 or 403 (a rotated token)
    rereads = 1 + sum(1 for status in STATUSES[:-1] if status in (401, 403))
    assert len(kube.seen("GET", "/api/v1/namespaces/shop/secrets/prom")) == rereads
    assert all(CANARIES["prometheus-secret"] in h for h in backend.received)
    assert all(r.error for r in results)
    assert_no_canary("a look's error (the status)", repr(results))
    assert_no_canary("the log", output.getvalue())
    assert "Measurement failed" in output.getvalue()


def flags(backend: EchoingBackend) -> list[FeatureFlag]:
    ref = {"key": "token"}
    return [
        FeatureFlag.model_validate(spec)
        for spec in (
            {
                "name": "unleash-flag",
                "unleash": {
                    "address": backend.url,
                    "environment": "production",
                    "feature": "checkout",
                    "tokenSecretRef": {"name": "unleash", **ref},
                },
            },
            {
                "name": "ld-flag",
                "launchDarkly": {
                    "project": "p",
                    "environment": "production",
                    "flag": "checkout",
                    "tokenSecretRef": {"name": "ld", **ref},
                },
            },
            {
                "name": "hook-flag",
                "webhook": {"url": f"{backend.url}/hook", "secretRef": {"name": "hook", **ref}},
            },
        )
    ]


def test_flag_provider_secrets_never_leak(
    backend: EchoingBackend, kube: FakeApi, output: io.StringIO, tmp_path: Path
) -> None:
    api = config.new_client_from_config(config_file=str(kube.kubeconfig(tmp_path)))  # type: ignore[no-untyped-call]
    settings = Settings(
        flag_endpoints=[backend.url], launchdarkly_address=backend.url, flag_timeout=2
    )
    errors: list[tuple[str, str]] = []
    switches = flag_switches(api, settings, on_error=lambda p, k: errors.append((p, k)))
    results: list[FlagResult] = []
    for _ in range(len(STATUSES)):  # each flag meets each failing status
        for flag in flags(backend):
            off = SwitchFlagOff(flag=flag, reason="Analysis failed")
            results.append(switches.apply(namespace="shop", rollout="web", action=off))
            back = RestoreFlag(flag=flag, previous="on")
            results.append(switches.apply(namespace="shop", rollout="web", action=back))

    assert len(kube.seen("GET", "/api/v1/namespaces/shop/secrets/unleash")) >= 1
    assert backend.answered >= 15
    for name in ("unleash", "launchdarkly"):
        assert any(CANARIES[name] in h for h in backend.received), f"{name}'s token unused"
    assert all(r.error for r in results)
    assert {p for p, _ in errors} == {"unleash", "launchDarkly", "webhook"}
    assert_no_canary("a flag's result (the status and its Event)", repr(results))
    assert_no_canary("the log", output.getvalue())
