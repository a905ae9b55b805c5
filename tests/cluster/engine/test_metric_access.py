"""The admin decides where metric queries go and who runs free-form PromQL, on the real
control plane with a real controller process (authenticated as the shipped ServiceAccount).

The metric endpoints are loopback stand-ins of Prometheus that record every request
(:class:`tests.support.recording_prometheus.RecordingPrometheus`): "refused" means the
Rollout's status says why and no request reached the address.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.accounts import CONTROLLER_ACCOUNT
from tests.support.analysis import analysis_rollout, metric_status
from tests.support.recording_prometheus import RecordingPrometheus
from tests.support.scenario import Harness
from tests.support.waiting import eventually

RBAC = "rbac.authorization.k8s.io"
TOKEN = "canary-metric-token-5f3e91"
THRESHOLD = {"name": "up", "threshold": {"query": "sum(up)", "success": "> 0", "count": 2}}
COMPARISON = {"name": "errors", "builtin": "app-errors"}


@pytest.fixture
def recorder() -> Iterator[RecordingPrometheus]:
    server = RecordingPrometheus().start()
    yield server
    server.stop()


@pytest.fixture
def default_prometheus() -> Iterator[RecordingPrometheus]:
    server = RecordingPrometheus().start()
    yield server
    server.stop()


def held_with(harness: Harness, text: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = harness.status()
        return status if text in status.get("message", "") else None

    return eventually(probe, timeout=60, what=f"the status saying {text!r}")


def events(harness: Harness) -> str:
    return harness.kube.kubectl(
        "get", "events.events.k8s.io", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout


def event_notes(harness: Harness) -> list[str]:
    return [item.get("note", "") for item in json.loads(events(harness))["items"]]


def released(harness: Harness, metrics: list[dict[str, Any]], address: str | None) -> str:
    """A Rollout with ``metrics`` against ``address``, adopted, then a release started;
    the stable revision."""
    harness.create_app(replicas=2)
    analysis_rollout(
        harness,
        address=address,
        steps=[{"setWeight": 50}, {"analysis": {"maxDuration": "2m"}}],
        metrics=metrics,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    return str(v1)


def promoted(harness: Harness, stable: str, what: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = harness.status()
        done = status.get("phase") == "Healthy" and status.get("stableRevision") != stable
        return status if done else None

    return eventually(probe, timeout=90, what=what)


def assert_held_not_aborted(harness: Harness, stable: str) -> None:
    status = harness.status()
    assert status["phase"] != "Degraded", status
    assert status["stableRevision"] == stable
    assert status.get("blockedRevision") is None
    assert not any(h["action"] in ("Aborted", "Promoted") for h in status.get("history", []))


def test_an_address_outside_the_allow_list_is_refused_and_never_queried(
    harness: Harness, recorder: RecordingPrometheus, default_prometheus: RecordingPrometheus
) -> None:
    harness.start_controller(extra=(f"--prometheus-address={default_prometheus.url}",))
    v1 = released(harness, [COMPARISON], recorder.url)

    status = held_with(harness, "is not an allowed Prometheus address")

    expected = (
        f"{recorder.url} is not an allowed Prometheus address (allowed: "
        f"{default_prometheus.url}); the controller's admin adds it with "
        "--prometheus-endpoint or LANDINGGEAR_PROMETHEUS_ENDPOINTS"
    )
    assert expected in status["message"]
    assert metric_status(status, "errors")["verdict"] == "Inconclusive"
    assert metric_status(status, "errors")["reason"] == f"cannot be measured: {expected}"
    assert any(expected in note for note in event_notes(harness)), event_notes(harness)
    assert_held_not_aborted(harness, v1)
    assert recorder.seen() == []
    assert default_prometheus.seen() == []
    print(f"\nrefused address: status message {status['message']!r}")


def test_an_allowed_address_is_queried_and_the_release_goes_on(
    harness: Harness, recorder: RecordingPrometheus
) -> None:
    harness.start_controller(metric_endpoints=[recorder.url])
    v1 = released(harness, [THRESHOLD], recorder.url)

    promoted(harness, v1, "promoted on the threshold rule")
    assert [r.query for r in recorder.seen()][:2] == ["sum(up)", "sum(up)"]


def test_a_threshold_rule_on_the_default_prometheus_runs_only_in_an_allowed_namespace(
    harness: Harness, default_prometheus: RecordingPrometheus
) -> None:
    default = f"--prometheus-address={default_prometheus.url}"
    first = harness.start_controller(extra=(default, "--threshold-namespace=someone-else"))
    v1 = released(harness, [THRESHOLD], None)

    status = held_with(harness, "may not run on the controller's default Prometheus")
    expected = (
        f"threshold rules of namespace {harness.namespace} may not run on the controller's "
        f"default Prometheus {default_prometheus.url}: the controller's admin allows the "
        "namespace with --threshold-namespace or LANDINGGEAR_THRESHOLD_NAMESPACES"
    )
    assert expected in status["message"]
    assert_held_not_aborted(harness, v1)
    assert default_prometheus.seen() == []
    print(f"\nrefused threshold rule: status message {status['message']!r}")

    first.stop()
    harness.start_controller(identity="b", extra=(default,), threshold_rules=True)
    promoted(harness, v1, "promoted on the threshold rule")
    assert {r.query for r in default_prometheus.seen()} == {"sum(up)"}


def grant_secret(harness: Harness, name: str) -> None:
    namespace, account = CONTROLLER_ACCOUNT
    role = "landinggear-metric-secret"
    harness.apply(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": role},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": [name],
                    "verbs": ["get"],
                }
            ],
        }
    )
    harness.apply(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }
    )


def test_a_bearer_token_secret_is_read_only_with_the_namespace_owners_grant(
    harness: Harness, recorder: RecordingPrometheus
) -> None:
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "metrics-token"},
            "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
        }
    )
    controller = harness.start_controller(metric_endpoints=[recorder.url])
    harness.create_app(replicas=2)
    analysis_rollout(
        harness,
        address=recorder.url,
        steps=[{"setWeight": 50}, {"analysis": {"maxDuration": "2m"}}],
        metrics=[THRESHOLD],
    )
    harness.kube.kubectl(
        "patch", "rollouts.landinggear.dev", "web", f"--namespace={harness.namespace}",
        "--type=merge", "-p",
        json.dumps({"spec": {"strategy": {"canary": {"analysis": {"prometheus": {
            "bearerTokenSecret": {"name": "metrics-token", "key": "token"}}}}}}}),
    )  # fmt: skip
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")

    status = held_with(harness, "may not read Secret")
    expected = (
        f"prometheus.bearerTokenSecret: the controller may not read Secret "
        f"{harness.namespace}/metrics-token: create a Role in {harness.namespace} allowing "
        "get on secrets named metrics-token and bind it to the controller's ServiceAccount "
        "(README: Install on a cluster, Prometheus address allow-list)"
    )
    assert expected in status["message"]
    assert_held_not_aborted(harness, v1)
    assert recorder.seen() == []
    print(f"\nno grant: status message {status['message']!r}")

    grant_secret(harness, "metrics-token")
    promoted(harness, v1, "promoted with the Rollout's own token")
    assert recorder.seen()
    assert {r.headers.get("Authorization") for r in recorder.seen()} == {f"Bearer {TOKEN}"}
    places = {
        "the log": controller.logs(),
        "the status": json.dumps(harness.rollout()),
        "the Events": events(harness),
    }
    for where, text in places.items():
        assert TOKEN not in text, f"the token leaked into {where}"
        assert base64.b64encode(TOKEN.encode()).decode()[:16] not in text, where


def test_the_crd_refuses_a_bearer_token_secret_without_an_address(harness: Harness) -> None:
    metric = {**COMPARISON, "prometheus": {"bearerTokenSecret": {"name": "t", "key": "token"}}}
    rollout = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "no-address"},
        "spec": {
            "workloadRef": {"name": "web"},
            "strategy": {
                "canary": {"steps": [{"setWeight": 50}], "analysis": {"metrics": [metric]}}
            },
        },
    }
    proc = harness.kube.kubectl(
        "apply", f"--namespace={harness.namespace}", "-f", "-",
        stdin=json.dumps(rollout), check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "bearerTokenSecret needs an address" in proc.stderr
