"""Automatic judgement against a real Prometheus scraping real apps, with real traffic.

On the local cluster's network: each pod runs its own demo app at its pod IP
(configured by the pod template's ERROR_RATE env), 100 rps go to the ``web``
Service's ClusterIP and kube-proxy spreads them over the Ready pods; the cluster's
Prometheus scrapes every pod each second; the controller judges.
"""

from __future__ import annotations

from typing import Any

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import analysis_rollout
from tests.support.scenario import Harness

ERRORS: list[dict[str, Any]] = [{"name": "errors", "builtin": "app-errors"}]


def test_a_canary_with_errors_is_aborted_automatically(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {}}],
        metrics=ERRORS,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    harness.kube.kubectl(
        "set", "env", "deployment/web", "ERROR_RATE=0.3", f"--namespace={harness.namespace}"
    )
    status = harness.wait_status("aborted by analysis", phase="Degraded", timeout=90)

    assert "AnalysisFailed" in status["message"]
    metric = status["analysis"]["metrics"][0]
    assert metric["verdict"] == "Fail"
    assert metric["canaryBad"] > 0
    assert metric["evidence"] >= 100  # 1/alpha
    assert harness.replica_sets()[v1] == (3, 3)
    assert harness.replica_sets()[status["blockedRevision"]][0] == 0
    print(
        f"aborted after {metric['canaryRequests']:.0f} canary requests "
        f"({metric['canaryBad']:.0f} bad) vs stable {metric['stableBad']:.0f}/"
        f"{metric['stableRequests']:.0f}"
    )


def test_a_healthy_canary_is_promoted(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "15s"}}],
        metrics=ERRORS,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    harness.set_image("web:v2")
    status = harness.wait_status("promoted", phase="Healthy", previousStableRevision=v1, timeout=60)

    v2 = status["stableRevision"]
    assert v2 != v1
    promoted = [h for h in status["history"] if h["action"] == "Promoted"][-1]
    assert (promoted["revision"], promoted["by"]) == (v2, "controller")
    analysis = status["analysis"]  # the canary's, judged on real counts
    assert analysis["revision"] == v2
    metric = analysis["metrics"][0]
    assert metric["verdict"] != "Fail"
    assert metric["canaryRequests"] > 0
    assert metric["stableRequests"] > 0
