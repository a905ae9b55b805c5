"""The post-promotion guard and threshold rules, against a real Prometheus, apps and traffic.

As in test_analysis.py: one demo app per pod at its pod IP (behaviour from the pod
template's env), the cluster's Prometheus scraping every pod each second, 100 rps
to the ``web`` Service's ClusterIP spread over the Ready pods by kube-proxy, and a
real controller process judging.
"""

from __future__ import annotations

import time
from typing import Any

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import analysis_rollout, release_with_env
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}


def test_a_regression_after_promotion_is_rolled_back_by_the_guard_across_a_restart(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "10s"}}]
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=steps,
        metrics=[ERRORS],
        guard={"duration": "3m"},
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    # v2 is healthy through its canary, then fails 30 % of requests (a late regression).
    release_with_env(harness, ERROR_RATE="0.3", ERRORS_AFTER_SECONDS="25")
    promoted = harness.wait_status("promoted", previousStableRevision=v1, timeout=60)
    v2 = promoted["stableRevision"]
    assert promoted["analysis"]["stage"] == "Guard"
    assert promoted["phase"] == "Progressing"
    assert promoted["analysis"]["metrics"][0]["stableRequests"] > 0  # v1's baseline
    promoted_at = time.monotonic()
    # A controller restart mid-guard: the guard lives in the status and goes on.
    harness.controllers[0].kill()
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])

    status = harness.wait_status("rolled back by the guard", stableRevision=v1, timeout=90)
    rolled_back_after = time.monotonic() - promoted_at
    assert status["blockedRevision"] == v2
    last = status["history"][-1]
    assert last["action"] == "RolledBack"
    assert last["by"] == "controller"
    assert "GuardFailed" in last["reason"]
    guard = status["analysis"]["metrics"][0]
    assert guard["verdict"] == "Fail"
    assert guard["canaryBad"] > 0
    assert status["analysis"]["startedAt"] == promoted["analysis"]["startedAt"]  # one guard

    def restored() -> bool:
        sets = harness.replica_sets()
        return sets[v1] == (3, 3) and sets[v2][0] == 0

    eventually(restored, timeout=30, what="v1 back at full size, v2 at zero")
    settled = harness.wait_status("degraded on the blocked revision", phase="Degraded")
    assert settled["stableRevision"] == v1
    print(
        f"guard rolled back {rolled_back_after:.1f}s after promotion, after "
        f"{guard['canaryRequests']:.0f} requests of the new stable ({guard['canaryBad']:.0f} bad) "
        f"vs baseline {guard['stableBad']:.0f}/{guard['stableRequests']:.0f}"
    )


def test_a_healthy_release_passes_the_guard_and_completes(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "8s"}}]
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=steps,
        metrics=[ERRORS],
        guard={"duration": "12s"},
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    harness.set_image("web:v2")
    harness.wait_status("guarding", previousStableRevision=v1, phase="Progressing", timeout=60)
    status = harness.wait_status("guard passed", phase="Healthy", timeout=60)

    assert status["stableRevision"] != v1
    assert status["analysis"]["completed"] is True
    assert status["analysis"]["metrics"][0]["verdict"] != "Fail"
    assert status["analysis"]["metrics"][0]["canaryRequests"] > 0
    completed = next(c for c in status["conditions"] if c["type"] == "Completed")
    assert completed["status"] == "True"


def test_a_threshold_rule_on_the_canary_error_ratio_aborts_a_bad_canary(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    selector = 'namespace="${namespace}",revision="${canary}"'
    ratio: dict[str, Any] = {
        "name": "error-ratio",
        "threshold": {
            "query": f'sum(rate(http_requests_total{{{selector},code=~"5.."}}[10s])) / '
            f"sum(rate(http_requests_total{{{selector}}}[10s]))",
            "success": "< 0.05",
            "failureLimit": 1,
            "initialDelay": "4s",
        },
        # A new canary's series may not be scraped yet at the first measurement: that is
        # no data, which would make the rule inconclusive (and hold) instead of judging.
        "noData": "ignore",
    }
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {}}],
        metrics=[ratio],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    release_with_env(harness, ERROR_RATE="0.3")
    status = harness.wait_status("aborted by the threshold rule", phase="Degraded", timeout=90)

    assert "AnalysisFailed" in status["message"]
    assert "error-ratio" in status["message"]
    metric = status["analysis"]["metrics"][0]
    assert metric["verdict"] == "Fail"
    assert metric["failed"] == 2  # failureLimit 1: the second failed measurement fails
    assert 0.15 < metric["value"] < 0.45
    assert harness.replica_sets()[v1] == (3, 3)
