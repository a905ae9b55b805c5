"""No secret in the log, an Event or the status of a real controller process.

The default Prometheus' bearer token (a file) and an Unleash token (a Secret in the
Rollout's namespace) are canary values; both backends are one loopback server
that fails every request and echoes it back (:mod:`tests.support.echoing`). A
release is analysed (every look fails) and aborted (switching the flag off fails),
at ``--log-level=debug``; then the controller's whole log, the Rollout's status
and every Event in the namespace are searched for either canary.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.api import v1alpha1
from tests.support.echoing import EchoingBackend
from tests.support.scenario import Harness
from tests.support.waiting import eventually

PROMETHEUS_TOKEN = "canary-cluster-prom-7a13f2"
UNLEASH_TOKEN = "canary-cluster-unleash-c85e09"


@pytest.fixture
def backend() -> Iterator[EchoingBackend]:
    server = EchoingBackend()
    yield server
    server.stop()


def _rollout(backend: EchoingBackend) -> dict[str, Any]:
    metric = {"name": "errors", "threshold": {"query": "sum(up)", "success": "> 0"}}
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": "web"},
        "spec": {
            "workloadRef": {"name": "web"},
            "featureFlags": [
                {
                    "name": "new-checkout",
                    "unleash": {
                        "address": backend.url,
                        "environment": "production",
                        "feature": "checkout",
                        "tokenSecretRef": {"name": "unleash-token", "key": "token"},
                    },
                }
            ],
            "strategy": {
                "canary": {
                    "steps": [{"setWeight": 50}, {"analysis": {"metrics": ["errors"]}}],
                    "analysis": {"interval": "1s", "metrics": [metric]},
                }
            },
        },
    }


def _last_error(harness: Harness) -> str:
    metrics = (harness.status().get("analysis") or {}).get("metrics") or []
    return "".join(str(m.get("lastError") or "") for m in metrics)


def _flags_pending(harness: Harness) -> str:
    for condition in harness.status().get("conditions") or []:
        if condition["type"] == "FlagsPending" and condition["status"] == "True":
            return str(condition["message"])
    return ""


def test_no_secret_reaches_the_log_the_events_or_the_status(
    harness: Harness, backend: EchoingBackend, tmp_path: Path
) -> None:
    token_file = tmp_path / "prometheus-token"
    token_file.write_text(PROMETHEUS_TOKEN + "\n")
    harness.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "unleash-token"},
            "data": {"token": base64.b64encode(UNLEASH_TOKEN.encode()).decode()},
        }
    )
    harness.create_app(replicas=2)
    controller = harness.start_controller(
        kubeconfig=harness.kube.kubeconfig,  # may read the Secret without a grant: not RBAC here
        threshold_rules=True,  # its rule runs on the default Prometheus
        extra=(
            f"--flag-endpoint={backend.url}",
            f"--prometheus-address={backend.url}",
            f"--prometheus-bearer-token-file={token_file}",
            "--prometheus-timeout=2",
            "--log-level=debug",
        ),
    )
    harness.apply(_rollout(backend))
    harness.wait_status("adopted", phase="Healthy")
    harness.set_image("web:v2")
    eventually(lambda: _last_error(harness), timeout=60, what="a failed look in the status")
    harness.cli("abort", "web")
    eventually(lambda: _flags_pending(harness), timeout=60, what="the flag's failure")

    received = "\n".join(backend.received)
    assert PROMETHEUS_TOKEN in received  # both secrets were used
    assert UNLEASH_TOKEN in received
    events = harness.kube.kubectl(
        "get", "events.events.k8s.io", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout
    assert json.loads(events)["items"], "no Events were recorded"
    places = {
        "the log": controller.logs(),
        "the status": json.dumps(harness.status()),
        "the Events": events,
    }
    assert "Measurement failed" in places["the log"]
    for where, text in places.items():
        for canary in (PROMETHEUS_TOKEN, UNLEASH_TOKEN):
            assert canary not in text, f"{canary} leaked into {where}"
            assert base64.b64encode(canary.encode()).decode()[:16] not in text, where
