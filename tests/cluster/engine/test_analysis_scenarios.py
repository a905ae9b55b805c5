"""End-to-end analysis scenarios: bad canaries aborted, blind analysis never promoting or failing.

Everything is real: the control plane, a ``landinggear run`` process, Prometheus
scraping one demo app per revision (``e2e/dataplane``, configured by the pod
template's ERROR_RATE / LATENCY_MS env) and client traffic split by Ready pods.
Each test asserts on the state of the world — the Rollout's status, the
ReplicaSets, the requests each revision served — sampled while the release runs
(``WorldRecorder``), not only where it ended.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from e2e.dataplane import DataPlane, TrafficGenerator
from e2e.prometheus import Prometheus
from tests.support.analysis import (
    ANALYSIS_STEPS_TIMEOUT,
    WorldRecorder,
    analysis_rollout,
    condition_reason,
    history_seconds,
    metric_status,
    release_with_env,
)
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ALPHA = 0.01
ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}


def _canary_gone_from_traffic(
    harness: Harness, plane: DataPlane, generator: TrafficGenerator, stable: str, canary: str
) -> None:
    """The canary is scaled to zero, stable at full size, and no request reaches the canary."""
    eventually(
        lambda: harness.replica_sets().get(canary, (0, 0)) == (0, 0),
        timeout=30,
        what=f"canary {canary} scaled to zero",
    )
    assert harness.replica_sets()[stable] == (3, 3)
    eventually(
        lambda: all(r.revision != canary for r in plane.routes()),
        timeout=10,
        what="no route to the canary",
    )
    time.sleep(0.5)  # requests chosen before the route went have been answered
    served = generator.counts().get(canary)
    time.sleep(2)
    assert generator.counts().get(canary) == served, "requests still reach the aborted canary"


def _judged(harness: Harness, metric: str) -> dict[str, Any] | None:
    """The metric's status once it has judged canary requests."""
    status = harness.status()
    if not (status.get("analysis") or {}).get("metrics"):
        return None
    found = metric_status(status, metric)
    return found if found["canaryRequests"] > 0 else None


def _held_inconclusive(harness: Harness) -> dict[str, Any] | None:
    status = harness.status()
    held = status.get("phase") == "Paused"
    return status if held and condition_reason(status, "Paused") == "AnalysisInconclusive" else None


def _held_at_promotion_for_no_data(
    harness: Harness, *, stable: str, canary: str, metric: str, steps: int
) -> dict[str, Any]:
    """Wait for the hold at the promotion gate (noData: inconclusive) and check it stays."""
    status: dict[str, Any] = eventually(
        lambda: _held_inconclusive(harness),
        timeout=ANALYSIS_STEPS_TIMEOUT,
        what="held as AnalysisInconclusive",
    )
    assert status["currentStepIndex"] == steps  # past the timed pause: at the promotion
    assert f"{metric}: no data" in status["message"]
    time.sleep(4)  # two more looks: still held, not promoted
    still = harness.status()
    assert still["phase"] == "Paused"
    assert condition_reason(still, "Paused") == "AnalysisInconclusive"
    assert still["stableRevision"] == stable
    assert still["canaryRevision"] == canary
    return still


# ---------------------------------------------------------------- bad canaries are aborted


def test_ten_percent_errors_are_aborted_automatically(
    harness: Harness,
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic: TrafficGenerator,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    # An untimed pause: only the analysis can end this release.
    analysis_rollout(
        harness,
        address=prometheus.url,
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
    served = traffic.counts()[v2]

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
    _canary_gone_from_traffic(harness, dataplane, traffic, v1, v2)
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
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic: TrafficGenerator,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    metrics: list[dict[str, Any]] = [
        ERRORS,
        # 0.1 s is one of the demo app's histogram buckets (e2e/demoapp BUCKETS).
        {"name": "slow", "builtin": "app-latency", "latencyBoundSeconds": 0.1},
    ]
    analysis_rollout(
        harness,
        address=prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {}}],
        metrics=metrics,
        alpha=ALPHA,
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    started = time.monotonic()
    release_with_env(harness, LATENCY_MS="200")
    status = harness.wait_status(
        "aborted by analysis", phase="Degraded", timeout=ANALYSIS_STEPS_TIMEOUT
    )
    seconds = time.monotonic() - started
    v2 = status["blockedRevision"]
    served = traffic.counts()[v2]

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
    assert served.failed == 0
    _canary_gone_from_traffic(harness, dataplane, traffic, v1, v2)
    print(
        f"\n+200 ms: aborted after {slow['canaryRequests']:.0f} canary requests judged "
        f"({slow['canaryBad']:.0f} slower than 0.1s; stable {slow['stableBad']:.0f}/"
        f"{slow['stableRequests']:.0f}), evidence {slow['evidence']:.0f}; errors "
        f"{errors['canaryBad']:.0f}/{errors['canaryRequests']:.0f}; the canary served "
        f"{served.sent} requests; "
        f"{history_seconds(status, 'ReleaseStarted', 'Aborted'):.1f}s from release to abort "
        f"({seconds:.1f}s wall clock)"
    )


# ---------------------------------------------------------------- Prometheus down


@pytest.fixture
def own_prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """A Prometheus for this test alone: stopping it leaves the session's one alone."""
    server = Prometheus(tmp_path / "own-prometheus", scrape_interval="1s")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_dataplane(
    api: ApiClient,
    namespace: str,
    own_prometheus: Prometheus,
    tmp_path: Path,
) -> Iterator[DataPlane]:
    plane = DataPlane(
        api=api, namespace=namespace, targets=own_prometheus, log_dir=tmp_path / "apps", seed=1
    )
    with plane:
        yield plane


def test_prometheus_down_mid_canary_holds_the_release_until_it_is_back(
    harness: Harness, own_prometheus: Prometheus, own_dataplane: DataPlane
) -> None:
    pause = 20  # two failed looks take ~10 s (each query is retried for ~3.5 s)
    harness.create_app(replicas=3)
    harness.start_controller()
    analysis_rollout(
        harness,
        address=own_prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": f"{pause}s"}}],
        metrics=[ERRORS],
        maxConsecutiveErrors=1,  # the second failed look in a row holds
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    generator = TrafficGenerator(own_dataplane.routes, rps=100, seed=3).start()
    try:
        with WorldRecorder(harness, routes=own_dataplane.routes) as world:
            harness.set_image("web:v2")
            status = harness.wait_status("timed pause at 50%", currentStepIndex=1, timeout=60)
            v2 = status["canaryRevision"]
            pause_ends_at = datetime.fromisoformat(status["stepStartedAt"]) + timedelta(
                seconds=pause
            )
            pause_ends = time.monotonic() + pause  # stepStartedAt is at most now
            judging = eventually(
                lambda: _judged(harness, "errors"), timeout=15, what="canary requests judged"
            )

            down = time.monotonic()
            own_prometheus.stop()
            before = generator.counts()
            held = eventually(
                lambda: _held_inconclusive(harness), timeout=30, what="held as inconclusive"
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
            during = generator.counts()
            up = time.monotonic()

            own_prometheus.start()
            promoted = harness.wait_status(
                "promoted once Prometheus is back", phase="Healthy", stableRevision=v2, timeout=60
            )
            to_promote = time.monotonic() - up
        assert promoted["previousStableRevision"] == v1
        judged = metric_status(promoted, "errors")  # the look that let it promote succeeded
        assert judged["consecutiveErrors"] == 0
        assert judged["canaryRequests"] > 0
        assert judged["verdict"] != "Fail"

        blind = world.between(down, up)
        assert len(blind) > 20, f"too few samples while Prometheus was down: {len(blind)}"
        for sample in blind:
            assert sample.stable_revision == v1, sample
            assert sample.phase != "Degraded", sample
            assert sample.canary_weight < 100, sample
            assert sample.routes.get(v1, 0) > 0, sample  # the stable always serves
            assert sample.canary_route_share < 1, sample
        stable_served = during[v1].sent - before[v1].sent
        canary_served = during[v2].sent - before.get(v2, during[v2]).sent
        canary_share = canary_served / (stable_served + canary_served)
        assert stable_served > 0
        assert canary_share < 0.7  # 2 canary pods of 5: ~40 %, never all of it
    finally:
        generator.stop()
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
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic: TrafficGenerator,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    analysis_rollout(
        harness,
        address=prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        metrics=[
            # No series carries this label: every query of "blind" comes back empty.
            {"name": "blind", "builtin": "app-errors", "revisionLabel": "no_such_label"},
            ERRORS,  # the control: the same counts under the right label
        ],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]

    with WorldRecorder(harness, routes=dataplane.routes) as world:
        harness.set_image("web:v2")  # a healthy release
        v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)["canaryRevision"]
        # An empty result counts as "no requests"; with `noData: inconclusive` (the
        # default) the release holds at the promotion instead of promoting unjudged.
        status = _held_at_promotion_for_no_data(
            harness, stable=v1, canary=v2, metric="blind", steps=2
        )
    served = traffic.counts()[v2]

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
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic_to: str,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    analysis_rollout(
        harness,
        address=prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "10s"}}],
        metrics=[ERRORS],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    generator = None
    if traffic_to == "stable-only":
        generator = TrafficGenerator(
            lambda: [r for r in dataplane.routes() if r.revision == v1], rps=100, seed=5
        ).start()
    try:
        with WorldRecorder(harness, routes=dataplane.routes) as world:
            # The worst canary there is, but it serves no request: nothing says it is bad.
            release_with_env(harness, ERROR_RATE="1.0")
            v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)[
                "canaryRevision"
            ]
            # With `noData: inconclusive` (the default) it holds at the promotion
            # (AnalysisInconclusive); whatever the policy it must never abort.
            status = _held_at_promotion_for_no_data(
                harness, stable=v1, canary=v2, metric="errors", steps=2
            )
    finally:
        if generator is not None:
            generator.stop()

    samples = [s for s in world.all() if s.canary_revision == v2]
    assert samples, "the recorder never saw the canary"
    assert any(s.routes.get(v2, 0) > 0 for s in samples)  # the canary had Ready pods
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


# ---------------------------------------------------------------- regressions


def test_a_one_second_interval_still_measures_the_canary(
    harness: Harness,
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic: TrafficGenerator,
) -> None:
    """Looks as often as Prometheus scrapes still count the canary's requests.

    At aab16dd a look's window was its interval: ``increase(...[1s])`` over a 1 s
    scrape held fewer than two samples, every query came back empty (counted as
    no requests) and a canary failing 10 % of its requests was promoted unjudged.
    """
    harness.create_app(replicas=3)
    harness.start_controller()
    analysis_rollout(
        harness,
        address=prometheus.url,
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
    served = traffic.counts()[canary]
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
    prometheus: Prometheus,
    dataplane: DataPlane,
    traffic: TrafficGenerator,
) -> None:
    harness.create_app(replicas=3)
    harness.start_controller()
    analysis_rollout(
        harness,
        address=prometheus.url,
        steps=[{"setWeight": 50}, {"pause": {"duration": "5s"}}],
        metrics=[{"name": "blind", "builtin": "app-errors", "revisionLabel": "no_such_label"}],
    )
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("canary running", currentStepIndex=1, timeout=60)["canaryRevision"]
    status = _held_at_promotion_for_no_data(harness, stable=v1, canary=v2, metric="blind", steps=2)
    sets = harness.replica_sets()
    share = sum(r.weight for r in dataplane.routes() if r.revision == v2) / sum(
        r.weight for r in dataplane.routes()
    )
    print(
        f"\nheld at the promotion: canaryWeight {status['canaryWeight']}, ReplicaSets {sets}, "
        f"canary share of Ready pods {share:.0%}"
    )
    assert status["canaryWeight"] == 50  # the last step's weight: nothing was judged
    assert sets[v2][0] == 2  # ceil(50 % of 3)
    assert sets[v1] == (3, 3)
