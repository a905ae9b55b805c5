"""End-to-end analysis scenarios without evidence: a release whose analysis cannot
see (Prometheus down), finds no series, or finds no canary requests never fails
the canary and never promotes it unjudged — it holds.

As in test_analysis_scenarios.py, everything is real: the control plane, a
``landinggear run`` process, one demo app per pod on the local cluster's network,
traffic to a Service's ClusterIP, the cluster's Prometheus scraping every pod.
``WorldRecorder`` samples the Rollout's status and the Service's Ready endpoints
while the release runs, so the tests assert on everything it went through.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.prometheus.api import Endpoint
from tests.support.analysis import (
    WorldRecorder,
    analysis_rollout,
    condition_reason,
    held_at_promotion_for_no_data,
    held_inconclusive,
    judged,
    metric_status,
    release_with_env,
)
from tests.support.network import revision_service, service_traffic
from tests.support.scenario import Harness
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import eventually

ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}


# ---------------------------------------------------------------- Prometheus down


@pytest.fixture
def prometheus_proxy(cluster_prometheus: Endpoint) -> Iterator[TcpProxy]:
    """The cluster's Prometheus behind a loopback proxy this test can take down (it
    refuses connections, as a stopped Prometheus would) without stopping the
    cluster's one: its scrapes go on meanwhile."""
    target = urlsplit(cluster_prometheus.url)
    assert target.hostname is not None, cluster_prometheus.url
    assert target.port is not None, cluster_prometheus.url
    proxy = TcpProxy((target.hostname, target.port))
    yield proxy
    proxy.close()


def test_prometheus_down_mid_canary_holds_the_release_until_it_is_back(
    harness: Harness, prometheus_proxy: TcpProxy, web_traffic: ServiceTraffic
) -> None:
    pause = 20  # two failed looks take ~10 s (each query is retried for ~3.5 s)
    harness.create_app(replicas=3, network=True)
    address = f"http://127.0.0.1:{prometheus_proxy.port}"
    harness.start_controller(metric_endpoints=[address])
    analysis_rollout(
        harness,
        address=address,
        steps=[{"setWeight": 50}, {"pause": {"duration": f"{pause}s"}}],
        metrics=[ERRORS],
        maxConsecutiveErrors=1,  # the second failed look in a row holds
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    with WorldRecorder(harness, service="web") as world:
        harness.set_image("web:v2")
        status = harness.wait_status("timed pause at 50%", currentStepIndex=1, timeout=60)
        v2 = status["canaryRevision"]
        pause_ends_at = datetime.fromisoformat(status["stepStartedAt"]) + timedelta(seconds=pause)
        pause_ends = time.monotonic() + pause  # stepStartedAt is at most now
        judging = eventually(
            lambda: judged(harness, "errors"), timeout=15, what="canary requests judged"
        )

        down = time.monotonic()
        prometheus_proxy.go_down()
        before = web_traffic.counts()
        held = eventually(
            lambda: held_inconclusive(harness), timeout=30, what="held as inconclusive"
        )
        to_hold = time.monotonic() - down
        assert datetime.now(UTC) < pause_ends_at, "held only after the pause was over"
        assert "errors" in held["message"]
        metric = metric_status(held, "errors")
        assert metric["consecutiveErrors"] > 1
        assert metric["lastError"]
        assert metric["verdict"] != "Fail"

        # The pause's duration passes: a release without evidence must not promote.
        time.sleep(max(0.0, pause_ends - time.monotonic()) + 5)
        still = harness.status()
        assert still["phase"] == "Paused"
        assert condition_reason(still, "Paused") == "AnalysisInconclusive"
        assert still["stableRevision"] == v1
        assert still["canaryRevision"] == v2
        assert harness.replica_sets() == {v1: (3, 3), v2: (2, 2)}
        during = web_traffic.counts()
        up = time.monotonic()

        prometheus_proxy.come_back()
        promoted = harness.wait_status(
            "promoted once Prometheus is back", phase="Healthy", stableRevision=v2, timeout=60
        )
        to_promote = time.monotonic() - up
    assert promoted["previousStableRevision"] == v1
    last_look = metric_status(promoted, "errors")  # the look that let it promote succeeded
    assert last_look["consecutiveErrors"] == 0
    assert last_look["canaryRequests"] > 0
    assert last_look["verdict"] != "Fail"

    blind = world.between(down, up)
    assert len(blind) > 20, f"too few samples while Prometheus was down: {len(blind)}"
    for sample in blind:
        assert sample.stable_revision == v1, sample
        assert sample.phase != "Degraded", sample
        assert sample.canary_weight < 100, sample
        assert sample.endpoints.get(v1, 0) > 0, sample  # the stable always serves
        assert sample.canary_endpoint_share < 1, sample
    stable_served = during[v1].sent - before[v1].sent
    canary_served = during[v2].sent - before.get(v2, during[v2]).sent
    canary_share = canary_served / (stable_served + canary_served)
    assert stable_served > 0
    assert canary_share < 0.7  # 2 canary pods of 5: ~40 %, never all of it
    print(
        f"\nPrometheus down ({judging['canaryRequests']:.0f} canary requests judged before): "
        f"held {to_hold:.1f}s after it stopped "
        f"({metric['consecutiveErrors']} failed looks), no promotion for "
        f"{up - down:.1f}s (pause {pause}s); promoted {to_promote:.1f}s after it was back; "
        f"canary share of requests while blind {canary_share:.0%} "
        f"({canary_served} of {stable_served + canary_served})"
    )


# ---------------------------------------------------------------- nothing to judge


def test_an_analysis_that_finds_no_series_never_fails_the_canary(
    harness: Harness,
    cluster_prometheus: Endpoint,
    web_traffic: ServiceTraffic,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        metrics=[
            # No series carries this label: every query of "blind" comes back empty.
            {"name": "blind", "builtin": "app-errors", "revisionLabel": "no_such_label"},
            ERRORS,  # the control: the same counts under the right label
        ],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    with WorldRecorder(harness, service="web") as world:
        harness.set_image("web:v2")  # a healthy release
        v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)["canaryRevision"]
        # An empty result counts as "no requests"; with `noData: inconclusive` (the
        # default) the release holds at the promotion instead of promoting unjudged.
        status = held_at_promotion_for_no_data(
            harness, stable=v1, canary=v2, metric="blind", steps=2
        )
    served = web_traffic.counts()[v2]

    samples = [s for s in world.all() if s.canary_revision == v2]
    assert samples, "the recorder never saw the canary"
    for sample in world.all():
        assert sample.phase != "Degraded", sample
        assert sample.blocked_revision is None, sample
        assert "Fail" not in sample.verdicts.values(), sample
    blind = max(s.canary_requests_judged.get("blind", 0) for s in samples)
    control = max(s.canary_requests_judged.get("errors", 0) for s in samples)
    assert blind == 0
    assert control > 0  # the requests were there to be counted under the right label
    assert served.sent > 0
    assert metric_status(status, "blind")["verdict"] != "Fail"
    assert all(s.stable_revision == v1 for s in world.all())  # never promoted
    print(
        f"\nno series: held at the promotion ({status['message']!r}) with 0 canary requests "
        f"judged by 'blind' (the control judged {control:.0f}); the canary served "
        f"{served.sent} requests"
    )


@pytest.mark.parametrize("traffic_to", ["stable-only", "none"])
def test_a_canary_without_traffic_is_never_rolled_back(
    harness: Harness,
    cluster_prometheus: Endpoint,
    traffic_to: str,
) -> None:
    harness.create_app(replicas=3, network=True)
    harness.start_controller(metric_endpoints=[cluster_prometheus.url])
    analysis_rollout(
        harness,
        address=cluster_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        metrics=[ERRORS],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    with contextlib.ExitStack() as stack:
        generator: ServiceTraffic | None = None
        if traffic_to == "stable-only":
            revision_service(harness, name="web-stable", revision=v1)
            generator = stack.enter_context(service_traffic(harness, service="web-stable"))
        with WorldRecorder(harness, service="web") as world:
            # The worst canary there is, but it serves no request: nothing says it is bad.
            release_with_env(harness, ERROR_RATE="1.0")
            v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)[
                "canaryRevision"
            ]
            # With `noData: inconclusive` (the default) it holds at the promotion
            # (AnalysisInconclusive); whatever the policy it must never abort.
            status = held_at_promotion_for_no_data(
                harness, stable=v1, canary=v2, metric="errors", steps=2
            )

    samples = [s for s in world.all() if s.canary_revision == v2]
    assert samples, "the recorder never saw the canary"
    assert any(s.endpoints.get(v2, 0) > 0 for s in samples)  # the canary had Ready pods
    for sample in world.all():
        assert sample.phase != "Degraded", sample
        assert sample.blocked_revision is None, sample
        assert sample.verdicts.get("errors") != "Fail", sample
    assert all(s.canary_requests_judged.get("errors", 0) == 0 for s in samples)
    assert all(s.stable_revision == v1 for s in world.all())  # never promoted
    assert harness.replica_sets()[v1] == (3, 3)
    held = metric_status(status, "errors")
    assert held["canaryRequests"] == 0
    assert held.get("measuredAt"), "held without ever looking"  # the looks ran, found nothing
    assert held["consecutiveErrors"] == 0  # and Prometheus answered them
    counts = generator.counts() if generator else {}
    assert v2 not in counts  # premise: the canary served nothing
    stable_judged = max(s.stable_requests_judged.get("errors", 0) for s in samples)
    if generator is not None:
        assert counts[v1].sent > 0
        assert stable_judged > 0  # the analysis was measuring: only the canary had nothing
    print(
        f"\nno canary traffic ({traffic_to}): held at the promotion, never aborted, "
        f"0 canary requests judged (stable {stable_judged:.0f} judged, "
        f"{counts[v1].sent if generator else 0} served)"
    )
