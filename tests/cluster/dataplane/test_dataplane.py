"""The data plane against the real control plane, judged through real PromQL.

Two ReplicaSets labelled as the controller labels its own — a healthy stable
and a canary failing half its requests — become two demo app processes that a
real Prometheus scrapes, under traffic split by Ready pods.

Prometheus applies file_sd changes on its discovery tick (5 s in this version,
not configurable), so waits for targets allow 20 s.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from e2e.dataplane import DataPlane, RevisionKey, TrafficGenerator
from e2e.prometheus import Prometheus
from tests.cluster.dataplane.replicasets import apply_replicaset
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

STABLE, CANARY = "stabl5h4sh", "c4n4ryh4sh"
TARGETS_TIMEOUT = 20.0


def serving(plane: DataPlane, weights: dict[str, int]) -> bool:
    """Whether the routes are exactly ``weights`` (revision → Ready pods) and all answer."""
    return {route.revision: route.weight for route in plane.routes()} == weights


def scraped_up(prometheus: Prometheus, namespace: str) -> set[str]:
    return {
        target.labels["revision"]
        for target in prometheus.active_targets()
        if target.labels.get("namespace") == namespace and target.health == "up"
    }


def by_revision(prometheus: Prometheus, promql: str) -> dict[str, float]:
    return {sample.labels["revision"]: sample.value for sample in prometheus.query(promql)}


def test_error_ratio_and_traffic_split_per_revision_are_measured_by_prometheus(
    kube: ClusterUnderTest, namespace: str, dataplane: DataPlane, prometheus: Prometheus
) -> None:
    apply_replicaset(kube, namespace, revision=STABLE, replicas=3)
    apply_replicaset(
        kube, namespace, revision=CANARY, replicas=1, env={"ERROR_RATE": "0.5", "LATENCY_MS": "100"}
    )
    eventually(lambda: serving(dataplane, {STABLE: 3, CANARY: 1}), timeout=30, what="both apps")
    eventually(
        lambda: scraped_up(prometheus, namespace) == {STABLE, CANARY},
        timeout=TARGETS_TIMEOUT,
        what="both apps scraped",
    )

    traffic = TrafficGenerator(dataplane.routes, rps=150, duration=5, seed=11).start()
    assert traffic.wait(timeout=30)
    ended = time.monotonic()
    counts = traffic.counts()
    print({revision: vars(c) for revision, c in counts.items()})

    total = sum(c.sent for c in counts.values())
    assert 600 <= total <= 750  # 150 rps for 5 s at most, less scheduling slack
    assert counts[CANARY].sent / total == pytest.approx(0.25, abs=0.06)  # ±4 sd at n≈750
    assert (counts[STABLE].errors, counts[STABLE].failed, counts[CANARY].failed) == (0, 0, 0)
    assert counts[CANARY].errors / counts[CANARY].sent == pytest.approx(0.5, abs=0.15)

    # Every request the generator saw answered is counted once by Prometheus.
    selector = f'namespace="{namespace}", rollout="web"'
    sent = {revision: float(c.sent) for revision, c in counts.items()}
    eventually(
        lambda: (
            by_revision(prometheus, f"sum by (revision) (http_requests_total{{{selector}}})")
            == sent
        ),
        timeout=10,
        what="Prometheus totals equal to the generator's",
    )
    print(f"last request counted by Prometheus {time.monotonic() - ended:.2f}s after traffic ended")

    ratio = by_revision(
        prometheus,
        f'sum by (revision) (rate(http_requests_total{{{selector}, code=~"5.."}}[15s]))'
        f" / sum by (revision) (rate(http_requests_total{{{selector}}}[15s]))",
    )
    assert ratio[STABLE] == 0.0
    assert ratio[CANARY] == pytest.approx(0.5, abs=0.15)

    share = by_revision(
        prometheus,
        f"sum by (revision) (increase(http_requests_total{{{selector}}}[1m]))"
        f" / scalar(sum(increase(http_requests_total{{{selector}}}[1m])))",
    )
    assert share[CANARY] == pytest.approx(0.25, abs=0.06)

    median = by_revision(
        prometheus,
        "histogram_quantile(0.5, sum by (le, revision)"
        f" (rate(http_request_duration_seconds_bucket{{{selector}}}[15s])))",
    )
    assert median[STABLE] < 0.05
    assert 0.1 <= median[CANARY] <= 0.25


def test_scaling_a_replicaset_to_zero_stops_its_app_and_withdraws_its_target(
    kube: ClusterUnderTest, namespace: str, dataplane: DataPlane, prometheus: Prometheus
) -> None:
    apply_replicaset(kube, namespace, revision=STABLE, replicas=2)
    canary = apply_replicaset(kube, namespace, revision=CANARY, replicas=1)
    eventually(lambda: serving(dataplane, {STABLE: 2, CANARY: 1}), timeout=30, what="both apps")
    canary_key = RevisionKey(rollout="web", revision=CANARY)
    canary_pid = dataplane.running()[canary_key].pid
    eventually(
        lambda: scraped_up(prometheus, namespace) == {STABLE, CANARY},
        timeout=TARGETS_TIMEOUT,
        what="both apps scraped",
    )

    traffic = TrafficGenerator(dataplane.routes, rps=100, seed=3).start()
    eventually(lambda: len(traffic.counts()) == 2, timeout=10, what="traffic to both")
    kube.kubectl("scale", f"--namespace={namespace}", "replicaset", canary, "--replicas=0")

    eventually(lambda: serving(dataplane, {STABLE: 2}), timeout=30, what="the canary unrouted")
    before = traffic.counts()
    eventually(
        lambda: traffic.counts()[STABLE].sent > before[STABLE].sent + 20,
        timeout=10,
        what="more traffic after the scale-down",
    )
    traffic.stop()
    after = traffic.counts()
    assert after[CANARY] == before[CANARY]  # nothing went to the canary after it was unrouted
    assert all(c.failed == 0 for c in after.values()), after  # routed away before stopped
    eventually(
        lambda: canary_key not in dataplane.running() and not Path(f"/proc/{canary_pid}").exists(),
        timeout=10,
        what="the canary's app stopped",
    )
    assert CANARY not in prometheus.targets_file(dataplane.target_source).read_text()
    eventually(
        lambda: {t.labels["revision"] for t in prometheus.active_targets()} == {STABLE},
        timeout=TARGETS_TIMEOUT,
        what="the canary's target withdrawn from Prometheus",
    )


def test_an_app_that_dies_is_started_again(
    kube: ClusterUnderTest, namespace: str, dataplane: DataPlane
) -> None:
    apply_replicaset(kube, namespace, revision=STABLE, replicas=1)
    key = RevisionKey(rollout="web", revision=STABLE)
    eventually(lambda: serving(dataplane, {STABLE: 1}), timeout=30, what="the app")
    first = dataplane.running()[key]

    os.kill(first.pid, signal.SIGKILL)

    def replaced() -> bool:
        now = dataplane.running().get(key)
        return now is not None and now.pid != first.pid and now.answering

    eventually(replaced, timeout=10, what="a new app for the revision")
    (route,) = dataplane.routes()
    assert route.address == dataplane.running()[key].address
