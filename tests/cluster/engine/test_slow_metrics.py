"""A slow or hostile metrics server cannot stall other Rollouts.

Everything is real but the hostile server: the control plane, one
``landinggear run`` process with a single worker (so any reconcile that waited
for Prometheus would hold up every other Rollout), the cluster's Prometheus, a
demo app per ``web`` pod and 100 rps to the ``web`` Service's ClusterIP. Three
other Rollouts' analyses point at a loopback server that trickles a byte every
half second and never finishes an answer (it stays on the host: the scenario is
about the metrics server itself; their pods need no app). ``web``'s bad release
must be aborted as fast as when it is alone.
"""

from __future__ import annotations

from typing import Any

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import (
    ANALYSIS_STEPS_TIMEOUT,
    analysis_rollout,
    history_seconds,
    release_with_env,
)
from tests.support.scenario import Harness
from tests.support.trickle import TrickleServer
from tests.support.waiting import eventually

ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}
SLOW_ROLLOUTS = 3


def aborted_after(harness: Harness, release: int) -> float:
    """Release ``web`` with 10 % errors; seconds from the release to its abort."""
    before = len(harness.status().get("history") or [])
    release_with_env(harness, ERROR_RATE="0.1", RELEASE=str(release))

    def aborted() -> dict[str, Any] | None:
        status = harness.status()
        history = (status.get("history") or [])[before:]
        return status if any(h["action"] == "Aborted" for h in history) else None

    status = eventually(aborted, timeout=ANALYSIS_STEPS_TIMEOUT, what=f"release {release} aborted")
    assert "AnalysisFailed" in status["message"]
    return history_seconds(status, "ReleaseStarted", "Aborted")


def slow_rollout(harness: Harness, name: str, address: str) -> None:
    harness.create_app(name=name, replicas=1)
    harness.apply(
        {
            "apiVersion": "landinggear.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name},
            "spec": {
                "workloadRef": {"name": name},
                "strategy": {
                    "canary": {
                        "steps": [{"setWeight": 50}, {"pause": {}}],
                        "analysis": {
                            "prometheus": {"address": address},
                            "interval": "2s",
                            "metrics": [ERRORS],
                        },
                    }
                },
            },
        }
    )


def test_a_trickling_metrics_server_delays_no_other_rollouts_abort(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    hostile = TrickleServer()
    try:
        harness.create_app(replicas=3, network=True)
        controller = harness.start_controller(
            extra=("--workers=1",), metric_endpoints=[cluster_prometheus.url, hostile.url]
        )
        analysis_rollout(
            harness,
            address=cluster_prometheus.url,
            steps=[{"setWeight": 50}, {"pause": {}}],
            metrics=[ERRORS],
            alpha=0.01,
        )
        harness.wait_status("adopted", phase="Healthy")
        alone = aborted_after(harness, release=2)

        for index in range(SLOW_ROLLOUTS):
            slow_rollout(harness, f"slow-{index}", hostile.url)
        for index in range(SLOW_ROLLOUTS):
            harness.wait_status("adopted", name=f"slow-{index}", phase="Healthy")
            harness.set_image("web:v2", name=f"slow-{index}")
        eventually(
            lambda: hostile.connections >= SLOW_ROLLOUTS,
            timeout=30,
            what="the slow Rollouts' looks reach the hostile server",
        )
        beside_slow = aborted_after(harness, release=3)
        durations = controller.metrics()
        count = durations["landinggear_reconcile_duration_seconds_count"]
        under_1s = durations.get("landinggear_reconcile_duration_seconds_bucket{le=1.0}", count)
    finally:
        hostile.close()
    print(f"\nbad release aborted {alone:.1f} s after release alone, {beside_slow:.1f} s beside "
          f"{SLOW_ROLLOUTS} Rollouts on a trickling server; {under_1s:.0f} of {count:.0f} "
          f"reconciles took under 1 s (one worker)")  # fmt: skip
    assert beside_slow <= alone + 5
    assert under_1s == count  # no reconcile waited for a server
