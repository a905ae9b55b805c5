"""A release whose new code path fails only while its feature flag is on, judged on
real traffic: the control plane, a ``landinggear run`` process, the real Unleash
server, and the local cluster's network — one demo app per pod at its pod IP that
evaluates the flag with the real Unleash SDK (``FLAG`` and ``FLAG_ERROR_RATE`` in
the pod template's env; the demo's pod agent hands the apps the Unleash address,
relayed into the cluster's namespace, and a backend token), 100 rps to the ``web``
Service's ClusterIP, the cluster's Prometheus scraping every pod.

- ``RollbackAndDisableFlags`` (the default with flags): the analysis aborts, the
  traffic goes back to the stable and the feature goes off.
- ``DisableFlags``: the feature goes off, the canary keeps serving at its weight,
  its errors stop once its SDK sees the change, it is judged again from zero and
  promoted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from UnleashClient import UnleashClient  # type: ignore[attr-defined]

from controller.api import v1alpha1
from e2e.dataplane import FlagServer
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.demo.network import AGENT
from e2e.prometheus.api import Endpoint
from e2e.unleash import UnleashServer
from tests.support.analysis import ANALYSIS_STEPS_TIMEOUT, release_with_env
from tests.support.network import flag_apps, ready_endpoints_by_revision
from tests.support.scenario import Harness
from tests.support.unleash import (
    create_feature,
    is_enabled,
    sdk_client,
    token_secret,
    unleash_flag,
)
from tests.support.waiting import eventually

ERRORS: dict[str, Any] = {"name": "errors", "builtin": "app-errors"}


@pytest.fixture
def flag_traffic(harness: Harness, unleash: UnleashServer) -> Iterator[ServiceTraffic]:
    """Apps (of the pods naming the demo's agent) that evaluate their ``FLAG`` with the
    Unleash SDK, and 100 rps to the ``web`` Service."""
    with flag_apps(
        harness,
        flags=FlagServer(unleash_url=unleash.url, token=unleash.client_token),
        service="web",
        rps=100,
    ) as load:
        yield load


@pytest.fixture
def observer(unleash: UnleashServer, tmp_path: Path) -> Iterator[UnleashClient]:
    sdk = sdk_client(unleash, tmp_path / "unleash-sdk")
    yield sdk
    sdk.destroy()


def _rollout(
    harness: Harness,
    prometheus: Endpoint,
    unleash: UnleashServer,
    feature: str,
    *,
    steps: list[dict[str, Any]],
    **canary: Any,
) -> None:
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "featureFlags": [unleash_flag(unleash, feature)],
                "strategy": {
                    "canary": {
                        "steps": steps,
                        "analysis": {
                            "prometheus": {"address": prometheus.url},
                            "interval": "2s",
                            "metrics": [ERRORS],
                        },
                        **canary,
                    }
                },
            },
        }
    )


def _history_time(status: dict[str, Any], action: str) -> float:
    times = [h["time"] for h in status.get("history") or [] if h["action"] == action]
    assert times, f"no {action} in the history: {status.get('history')!r}"
    return datetime.fromisoformat(times[-1].replace("Z", "+00:00")).timestamp()


def _start(
    harness: Harness, prometheus: Endpoint, unleash: UnleashServer, feature: str, **spec: Any
) -> str:
    """Feature on, token Secret, app, controller, Rollout adopted; the stable revision."""
    create_feature(unleash, feature)
    token_secret(harness, unleash.admin_token)
    harness.create_app(replicas=4, agent=AGENT)
    harness.start_controller(
        extra=("--flag-endpoint", unleash.url), metric_endpoints=[prometheus.url]
    )
    _rollout(harness, prometheus, unleash, feature, **spec)
    stable: str = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    return stable


def test_errors_behind_a_flag_abort_the_release_and_switch_the_flag_off(
    harness: Harness,
    cluster_prometheus: Endpoint,
    unleash: UnleashServer,
    flag_traffic: ServiceTraffic,
    observer: UnleashClient,
) -> None:
    generator = flag_traffic
    v1 = _start(
        harness,
        cluster_prometheus,
        unleash,
        "checkout-v3",
        steps=[{"setWeight": 50}, {"pause": {}}],
    )
    release_with_env(harness, FLAG="checkout-v3", FLAG_ERROR_RATE="0.1")
    status = harness.wait_status(
        "aborted by the analysis", phase="Degraded", timeout=ANALYSIS_STEPS_TIMEOUT
    )
    aborted_at = _history_time(status, "Aborted")
    eventually(lambda: not observer.is_enabled("checkout-v3"), timeout=30, what="SDK sees off")
    seen_off = time.time() - aborted_at  # an upper bound: polled from here
    assert status["stableRevision"] == v1
    assert not is_enabled(unleash, "checkout-v3")
    canary = status["blockedRevision"]
    api = harness.kube.api()
    eventually(
        lambda: canary not in ready_endpoints_by_revision(api, harness.namespace),
        timeout=30,
        what="no Ready endpoint of the canary",
    )
    served = generator.counts()[canary]
    assert served.errors > 0  # it did fail behind the flag
    print(
        f"\nabort stored → the Unleash SDK sees the flag off: ≤ {seen_off:.2f}s; "
        f"canary served {served.sent} requests, {served.errors} errors"
    )


def test_disable_flags_stops_the_errors_keeps_the_canary_and_promotes_it(
    harness: Harness,
    cluster_prometheus: Endpoint,
    unleash: UnleashServer,
    flag_traffic: ServiceTraffic,
) -> None:
    generator = flag_traffic
    v1 = _start(
        harness,
        cluster_prometheus,
        unleash,
        "checkout-v4",
        steps=[{"setWeight": 50}, {"pause": {"duration": "20s"}}],
        onAnomaly="DisableFlags",
        flagPropagation="3s",  # the demo apps' SDK polls every second
    )
    release_with_env(harness, FLAG="checkout-v4", FLAG_ERROR_RATE="0.1")

    def flags_disabled() -> dict[str, Any] | None:
        status = harness.status()
        actions = [h["action"] for h in status.get("history") or []]
        return status if "FlagsDisabled" in actions else None

    status = eventually(flags_disabled, timeout=ANALYSIS_STEPS_TIMEOUT, what="FlagsDisabled")
    disabled_at = _history_time(status, "FlagsDisabled")
    canary = status["canaryRevision"]
    assert canary
    assert status["canaryWeight"] == 50  # still serving
    eventually(lambda: not is_enabled(unleash, "checkout-v4"), timeout=30, what="feature off")

    def observed_off() -> float | None:
        query = f'demo_flag_observed_off_timestamp_seconds{{revision="{canary}"}}'
        samples = cluster_prometheus.query(query)
        return max((s.value for s in samples), default=0.0) or None

    seen_at = eventually(observed_off, timeout=30, what="the canary's SDK sees the flag off")
    time.sleep(2)  # answers in flight when the SDK changed have been counted
    then = generator.counts()[canary]
    errors_then = then.errors
    time.sleep(8)
    later = generator.counts()[canary]
    assert later.errors == errors_then, "the canary still fails with its flag off"
    assert later.sent > 0

    status = harness.wait_status(
        "promoted", phase="Healthy", timeout=ANALYSIS_STEPS_TIMEOUT, previousStableRevision=v1
    )
    assert status["stableRevision"] == canary
    assert not is_enabled(unleash, "checkout-v4")  # promotion keeps the flag off
    print(
        f"\nDisableFlags: flags off decided → the canary's SDK sees it off: "
        f"{seen_at - disabled_at:.2f}s; the canary then served {later.sent - then.sent} "
        f"more requests with no error and was promoted"
    )
