"""The analyst refuses what the admin did not allow, before any request is sent.

A loopback stand-in of Prometheus records every request it gets, so "refused"
means "nothing reached it"; the Secrets come from a loopback stand-in of the
API server (the real API server and RBAC: ``tests/cluster/engine/test_metric_access.py``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from kubernetes import config

from controller.api.analysis import Verdict
from controller.api.v1alpha1 import Rollout
from controller.backends import metric_secrets
from controller.core.analysis import analyse
from controller.core.measurements import Measurement, Measurements
from controller.providers.prometheus_config import PrometheusConfig
from controller.reconcile.analyst import Analyst
from controller.settings import Settings
from tests.support.fake_api import FakeApi
from tests.support.recording_prometheus import RecordingPrometheus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
THRESHOLD = {"name": "m", "threshold": {"query": "sum(up)", "success": "> 0"}}
COMPARISON = {"name": "m", "builtin": "app-errors"}
TOKEN = "canary-tenant-token-4be1"


@pytest.fixture
def prometheus() -> Iterator[RecordingPrometheus]:
    server = RecordingPrometheus().start()
    yield server
    server.stop()


@pytest.fixture
def kube() -> Iterator[FakeApi]:
    api = FakeApi().start()
    yield api
    api.stop()


def rollout(
    metrics: list[dict[str, Any]],
    prometheus: dict[str, Any] | None = None,
    namespace: str = "shop",
) -> Rollout:
    analysis: dict[str, Any] = {"interval": "10s", "metrics": metrics}
    if prometheus is not None:
        analysis["prometheus"] = prometheus
    return Rollout.model_validate(
        {
            "name": "web",
            "namespace": namespace,
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
                    "metrics": [{"name": "m", "measuredAt": T0.isoformat()}],
                },
            },
        }
    )


def look(analyst: Analyst, *targets: Rollout) -> list[Measurement]:
    async def run() -> list[Measurement]:
        found: list[Measurement] = []
        for target in targets:
            taken = await analyst.measure(target, T0 + timedelta(seconds=10))
            assert taken is not None
            found += taken.results
        await analyst.aclose()
        return found

    return asyncio.run(run())


def default(address: str) -> PrometheusConfig:
    return PrometheusConfig.model_validate({"address": address, "retries": 0})


def test_an_address_outside_the_allow_list_is_refused_before_any_request(
    prometheus: RecordingPrometheus,
) -> None:
    analyst = Analyst(default=default("http://127.0.0.1:1"), endpoints=["http://127.0.0.2:9090"])
    (result,) = look(analyst, rollout([COMPARISON], {"address": prometheus.url}))

    assert prometheus.seen() == []
    assert result.invalid == (
        f"{prometheus.url} is not an allowed Prometheus address (allowed: "
        "http://127.0.0.1:1, http://127.0.0.2:9090); the controller's admin adds it with "
        "--prometheus-endpoint or LANDINGGEAR_PROMETHEUS_ENDPOINTS"
    )


def test_an_allowed_address_is_queried(prometheus: RecordingPrometheus) -> None:
    analyst = Analyst(default=None, endpoints=[prometheus.url])
    (result,) = look(analyst, rollout([THRESHOLD], {"address": prometheus.url}))

    assert not result.invalid
    assert not result.error
    assert result.value == 1.0
    assert [r.query for r in prometheus.seen()] == ["sum(up)"]


def test_a_refused_metric_holds_the_release_with_the_reason_and_never_fails_it(
    prometheus: RecordingPrometheus,
) -> None:
    target = rollout([COMPARISON], {"address": prometheus.url})
    analyst = Analyst(default=None)
    results = tuple(look(analyst, target))
    spec = target.spec.strategy.canary.analysis
    assert spec is not None
    assert target.status.analysis is not None

    outcome = analyse(
        spec,
        target.status.analysis,
        measurements=Measurements(revision="bbb", at=T0, results=results, started_at=T0),
        now=T0,
    )
    assert outcome.failed == ""
    assert outcome.holding.startswith(f"m: cannot be measured: {prometheus.url} is not an allowed")
    assert "--prometheus-endpoint" in outcome.holding
    assert outcome.status.metrics[0].verdict == Verdict.INCONCLUSIVE


def test_a_threshold_rule_on_the_default_prometheus_needs_its_namespace_allowed(
    prometheus: RecordingPrometheus,
) -> None:
    refused = Analyst(default=default(prometheus.url), threshold_namespaces=["other"])
    (result,) = look(refused, rollout([THRESHOLD]))
    assert prometheus.seen() == []
    assert result.invalid.startswith(
        f"threshold rules of namespace shop may not run on the controller's default "
        f"Prometheus {prometheus.url}: the controller's admin allows the namespace with "
        "--threshold-namespace or LANDINGGEAR_THRESHOLD_NAMESPACES"
    )
    # naming the default's address explicitly changes nothing
    (named,) = look(refused, rollout([THRESHOLD], {"address": prometheus.url}))
    assert named.invalid == result.invalid
    assert prometheus.seen() == []

    for allowed in (["shop"], ["*"]):
        analyst = Analyst(default=default(prometheus.url), threshold_namespaces=allowed)
        (result,) = look(analyst, rollout([THRESHOLD]))
        assert result.value == 1.0
    assert len(prometheus.seen()) == 2


def test_builtin_comparisons_run_on_the_default_in_any_namespace(
    prometheus: RecordingPrometheus,
) -> None:
    analyst = Analyst(default=default(prometheus.url))
    (result,) = look(analyst, rollout([COMPARISON]))
    assert not result.invalid
    assert not result.error
    assert prometheus.seen()
    assert all('namespace="shop"' in r.query for r in prometheus.seen())


def secret_analyst(kube: FakeApi, tmp_path: Path, **settings: Any) -> Analyst:
    api = config.new_client_from_config(config_file=str(kube.kubeconfig(tmp_path)))  # type: ignore[no-untyped-call]
    return Analyst(
        default=default("http://127.0.0.1:1"),
        secrets=metric_secrets(api, Settings()),
        **settings,
    )


def serve_token(kube: FakeApi, namespace: str, name: str, token: str) -> None:
    kube.answer(
        "GET",
        f"/api/v1/namespaces/{namespace}/secrets/{name}",
        200,
        {"kind": "Secret", "data": {"token": base64.b64encode(token.encode()).decode()}},
    )


def test_a_rollouts_bearer_token_secret_is_read_in_its_namespace_and_sent(
    prometheus: RecordingPrometheus, kube: FakeApi, tmp_path: Path
) -> None:
    serve_token(kube, "shop", "prom", TOKEN)
    serve_token(kube, "books", "prom", TOKEN + "-books")
    analyst = secret_analyst(kube, tmp_path, endpoints=[prometheus.url])
    ref = {"address": prometheus.url, "bearerTokenSecret": {"name": "prom", "key": "token"}}

    results = look(analyst, rollout([THRESHOLD], ref), rollout([THRESHOLD], ref, namespace="books"))

    assert [r.value for r in results] == [1.0, 1.0]
    assert [r.headers["Authorization"] for r in prometheus.seen()] == [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}-books",  # same address, another tenant: its own token
    ]
    assert len(kube.seen("GET", "/api/v1/namespaces/shop/secrets/prom")) == 1
    assert TOKEN not in repr(results)


def test_without_the_namespace_owners_grant_the_secret_read_is_refused_with_what_to_create(
    prometheus: RecordingPrometheus, kube: FakeApi, tmp_path: Path
) -> None:
    kube.answer("GET", "/api/v1/namespaces/shop/secrets/prom", 403, {"kind": "Status", "code": 403})
    analyst = secret_analyst(kube, tmp_path, endpoints=[prometheus.url])
    ref = {"address": prometheus.url, "bearerTokenSecret": {"name": "prom", "key": "token"}}

    (result,) = look(analyst, rollout([THRESHOLD], ref))

    assert prometheus.seen() == []
    assert result.invalid == (
        "prometheus.bearerTokenSecret: the controller may not read Secret shop/prom: create a "
        "Role in shop allowing get on secrets named prom and bind it to the controller's "
        "ServiceAccount (README: Install on a cluster, Prometheus address allow-list)"
    )


def test_a_bearer_token_secret_is_never_sent_to_the_default_prometheus(
    kube: FakeApi, tmp_path: Path
) -> None:
    serve_token(kube, "shop", "prom", TOKEN)
    analyst = secret_analyst(kube, tmp_path)
    ref = {"address": "http://127.0.0.1:1", "bearerTokenSecret": {"name": "prom", "key": "token"}}

    (result,) = look(analyst, rollout([COMPARISON], ref))

    assert "not the controller's default Prometheus" in result.invalid
    assert kube.seen("GET", "/api/v1/namespaces/shop/secrets/prom") == []


def test_an_address_with_credentials_is_refused_without_echoing_them(
    prometheus: RecordingPrometheus,
) -> None:
    with_userinfo = prometheus.url.replace("://", "://lg:canary-url-password-77@")
    analyst = Analyst(default=None, endpoints=[prometheus.url])
    (result,) = look(analyst, rollout([COMPARISON], {"address": with_userinfo}))
    assert result.invalid
    assert "canary-url-password-77" not in result.invalid
    assert prometheus.seen() == []


def test_a_secret_is_read_once_across_looks_not_once_a_look(
    prometheus: RecordingPrometheus, kube: FakeApi, tmp_path: Path
) -> None:
    serve_token(kube, "shop", "prom", TOKEN)
    analyst = secret_analyst(kube, tmp_path, endpoints=[prometheus.url])
    ref = {"address": prometheus.url, "bearerTokenSecret": {"name": "prom", "key": "token"}}
    target = rollout([THRESHOLD], ref)

    results = look(analyst, target, target, target)

    assert [r.value for r in results] == [1.0, 1.0, 1.0]
    assert len(prometheus.seen()) == 3
    assert len(kube.seen("GET", "/api/v1/namespaces/shop/secrets/prom")) == 1


def test_a_refusal_is_logged_once_until_its_reason_changes(
    prometheus: RecordingPrometheus,
) -> None:
    analyst = Analyst(default=default("http://127.0.0.1:1"), endpoints=["http://127.0.0.2:9090"])
    refused = rollout([COMPARISON], {"address": prometheus.url})
    other = rollout([COMPARISON], {"address": prometheus.url + "/x"})

    with structlog.testing.capture_logs() as logs:
        look(analyst, refused, refused, refused, other, refused)

    warned = [(e["metric"], e["error"]) for e in logs if e["log_level"] == "warning"]
    assert len(warned) == 3, warned  # the first, the new reason, the old one back
    assert all(e["event"] == "Measurement refused" for e in logs)
    assert {e["namespace"] for e in logs} == {"shop"}


def test_a_token_prometheus_refuses_is_read_again_on_the_next_look(
    prometheus: RecordingPrometheus, kube: FakeApi, tmp_path: Path
) -> None:
    """A rotated token: Prometheus answers 401 to the kept one; the next look reads the
    Secret again instead of sending the stale token for the rest of the minute."""
    serve_token(kube, "shop", "prom", TOKEN)
    analyst = secret_analyst(kube, tmp_path, endpoints=[prometheus.url])
    ref = {"address": prometheus.url, "bearerTokenSecret": {"name": "prom", "key": "token"}}
    target = rollout([THRESHOLD], ref)
    prometheus.status = 401

    async def run() -> list[Measurement]:
        first = await analyst.measure(target, T0 + timedelta(seconds=10))
        serve_token(kube, "shop", "prom", TOKEN + "-rotated")
        prometheus.status = 200
        second = await analyst.measure(target, T0 + timedelta(seconds=20))
        await analyst.aclose()
        assert first is not None
        assert second is not None
        return [*first.results, *second.results]

    refused, taken = asyncio.run(run())

    assert refused.error
    assert taken.value == 1.0
    assert [r.headers["Authorization"] for r in prometheus.seen()][-1] == f"Bearer {TOKEN}-rotated"
    assert len(kube.seen("GET", "/api/v1/namespaces/shop/secrets/prom")) == 2
