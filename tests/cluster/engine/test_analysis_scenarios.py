"""End-to-end analysis scenarios: bad canaries aborted, a short interval still judging,
a release held at the promotion keeping its traffic.

Everything is real: the control plane, a ``landinggear run`` process, and the local
cluster's network — one demo app per pod at its pod IP (configured by the pod
template's ERROR_RATE / LATENCY_MS env), 100 rps to the ``web`` Service's ClusterIP
spread by kube-proxy over the Ready pods, the cluster's Prometheus scraping every
pod. Each test asserts on the state of the world — the Rollout's status, the
ReplicaSets, the requests each revision served — not only where it ended.
test_analysis_without_evidence.py holds the releases that have nothing to judge.
"""

from __future__ import annotations

import time
from typing import Any

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import (
    ANALYSIS_STEPS_TIMEOUT,
    analysis_rollout,
    condition_reason,
    held_at_promotion_for_no_data,
    history_seconds,
    metric_status,
    release_with_env,
)
from tests.support.network import ready_endpoints_by_revision
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ALPHA = 0.01
ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}


def _canary_gone_from_traffic(
    harness: Harness, load: ServiceTraffic, stable: str, canary: str
) -> None:
    """The canary is scaled to zero, stable at full size, and no request reaches the canary."""
    eventually(
        lambda: harness.replica_sets().get(canary, (0, 0)) == (0, 0),
        timeout=30,
        what=f"canary {canary} scaled to zero",
    )
    assert harness.replica_sets()[stable] == (3, 3)
    api = harness.kube.api()
    eventually(
        lambda: canary not in ready_endpoints_by_revision(api, harness.namespace),
        timeout=10,
        what="no Ready endpoint of the canary",
    )
    time.sleep(1.5)  # kube-proxy's rules follow; requests already sent are answered
    served = load.counts().get(canary)
    time.sleep(2)
    assert load.counts().get(canary) == served, "requests still reach the aborted canary"


# ---------------------------------------------------------------- bad canaries are aborted


def test_ten_percent_errors_are_aborted_automatically(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    # An untimed pause: only the analysis can end this release.
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {}}],
        metrics=[ERRORS],
        alpha=ALPHA,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    started = time.monotonic()
    release_with_env(harness, ERROR_RATE="0.1")
    status = harness.wait_status(
        "aborted by analysis", phase="Degraded", timeout=ANALYSIS_STEPS_TIMEOUT
    )
    seconds = time.monotonic() - started
    v2 = status["blockedRevision"]
    served = web_traffic.counts()[v2]

    assert v2 not in (None, v1)
    assert status["stableRevision"] == v1
    assert "AnalysisFailed" in status["message"]
    aborted = [h for h in status["history"] if h["action"] == "Aborted"][-1]
    assert aborted["revision"] == v2
    assert aborted["reason"].startswith("AnalysisFailed")
    assert condition_reason(status, "Aborted") is not None
    metric = metric_status(status, "errors")
    assert metric["verdict"] == "Fail"
    assert metric["evidence"] >= 1 / ALPHA
    assert metric["canaryBad"] > 0
    assert metric["stableBad"] == 0  # stable has ERROR_RATE 0
    assert served.errors > 0  # the canary really failed requests
    _canary_gone_from_traffic(harness, web_traffic, v1, v2)
    print(
        f"\n10% errors: aborted after {metric['canaryRequests']:.0f} canary requests judged "
        f"({metric['canaryBad']:.0f} bad; stable {metric['stableBad']:.0f}/"
        f"{metric['stableRequests']:.0f}), evidence {metric['evidence']:.0f}; the canary served "
        f"{served.sent} requests ({served.errors} errors); "
        f"{history_seconds(status, 'ReleaseStarted', 'Aborted'):.1f}s from release to abort "
        f"({seconds:.1f}s wall clock)"
    )


def test_two_hundred_ms_slower_canary_is_aborted_by_app_latency(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    metrics: list[dict[str, Any]] = [
        ERRORS,
        # 0.1 s is one of the demo app's histogram buckets (e2e/demoapp BUCKETS).
        {"name": "slow", "builtin": "app-latency", "latencyBoundSeconds": 0.1},
    ]
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {}}],
        metrics=metrics,
        alpha=ALPHA,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    started = time.monotonic()
    unanswered = web_traffic.failed  # before the app pods answered: refused
    release_with_env(harness, LATENCY_MS="200")
    status = harness.wait_status(
        "aborted by analysis", phase="Degraded", timeout=ANALYSIS_STEPS_TIMEOUT
    )
    seconds = time.monotonic() - started
    v2 = status["blockedRevision"]
    served = web_traffic.counts()[v2]

    assert v2 not in (None, v1)
    assert "AnalysisFailed" in status["message"]
    assert "slow" in status["message"]
    slow = metric_status(status, "slow")
    assert slow["verdict"] == "Fail"
    assert slow["evidence"] >= len(metrics) / ALPHA  # alpha is shared by the metrics
    assert slow["canaryBad"] > 0
    errors = metric_status(status, "errors")
    assert errors["verdict"] != "Fail"
    assert errors["canaryBad"] == 0
    assert errors["stableBad"] == 0
    assert served.sent > 0
    assert served.errors == 0
    assert web_traffic.failed == unanswered  # slow, but every request was answered
    _canary_gone_from_traffic(harness, web_traffic, v1, v2)
    print(
        f"\n+200 ms: aborted after {slow['canaryRequests']:.0f} canary requests judged "
        f"({slow['canaryBad']:.0f} slower than 0.1s; stable {slow['stableBad']:.0f}/"
        f"{slow['stableRequests']:.0f}), evidence {slow['evidence']:.0f}; errors "
        f"{errors['canaryBad']:.0f}/{errors['canaryRequests']:.0f}; the canary served "
        f"{served.sent} requests; "
        f"{history_seconds(status, 'ReleaseStarted', 'Aborted'):.1f}s from release to abort "
        f"({seconds:.1f}s wall clock)"
    )


# ---------------------------------------------------------------- regressions


def test_a_one_second_interval_still_measures_the_canary(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    """Looks as often as Prometheus scrapes still count the canary's requests.

    At aab16dd a look's window was its interval: ``increase(...[1s])`` over a 1 s
    scrape held fewer than two samples, every query came back empty (counted as
    no requests) and a canary failing 10 % of its requests was promoted unjudged.
    """
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        metrics=[ERRORS],
        interval="1s",  # the scrape interval of the test Prometheus
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    release_with_env(harness, ERROR_RATE="0.1")

    def decided() -> dict[str, Any] | None:
        status = harness.status()
        promoted = status.get("phase") == "Healthy" and status.get("stableRevision") != v1
        return status if promoted or status.get("phase") == "Degraded" else None

    status = eventually(decided, timeout=ANALYSIS_STEPS_TIMEOUT, what="promoted or aborted")
    canary = status.get("blockedRevision") or status["stableRevision"]
    served = web_traffic.counts()[canary]
    metric = metric_status(status, "errors") if status.get("analysis") else {}
    print(
        f"\n1s interval: {status['phase']} with {metric.get('canaryRequests', 0):.0f} canary "
        f"requests judged; the canary served {served.sent} ({served.errors} errors)"
    )
    assert metric.get("canaryRequests", 0) > 0
    assert status["phase"] == "Degraded"


# ---------------------------------------------------------------- held at the promotion


def test_a_release_held_at_the_promotion_keeps_the_last_steps_traffic(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "5s"}}],
        metrics=[{"name": "blind", "builtin": "app-errors", "revisionLabel": "no_such_label"}],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)["canaryRevision"]
    status = held_at_promotion_for_no_data(harness, stable=v1, canary=v2, metric="blind", steps=2)
    sets = harness.replica_sets()
    ready = ready_endpoints_by_revision(harness.kube.api(), harness.namespace)
    share = ready.get(v2, 0) / sum(ready.values())
    print(
        f"\nheld at the promotion: canaryWeight {status['canaryWeight']}, ReplicaSets {sets}, "
        f"canary share of Ready endpoints {share:.0%}"
    )
    assert status["canaryWeight"] == 50  # the last step's weight: nothing was judged
    assert sets[v2][0] == 2  # ceil(50 % of 3)
    assert sets[v1] == (3, 3)
