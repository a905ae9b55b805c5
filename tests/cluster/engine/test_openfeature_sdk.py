"""An OpenFeature ``FeatureFlag`` on the real API server (its upstream CRD, validation
included), evaluated the way an app on the OpenFeature Operator evaluates it: the
OpenFeature Python SDK with flagd's in-process resolver, in this test and in a demo
app process. A real controller switches the flag off on abort and ``retry`` puts it
back; both SDKs follow.

How the SDKs are fed the CR's ``flagSpec``: ``FlagSpecSync`` watches the one
FeatureFlag through the API server and, on every change, replaces a flagd file
with ``{"flags": spec.flagSpec.flags, "$evaluators": spec.flagSpec.$evaluators}``,
what the operator's file/ConfigMap sync hands flagd, minus the ConfigMap and
the kubelet's volume refresh. The flagd provider's file watcher reloads that file
(every 0.1 s here); ``FlagdSource`` in this process and the demo app of a pod
(``--flagd-file``: the demo's pod agent, ``FlagServer(flagd_file=...)``) evaluate
on it in their own process. The app serves on the local cluster's network: the test
reads what its SDK says from the cluster's Prometheus and the status of its answers
from the load sent to its Service from inside the cluster's namespace.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from controller.core.revisions import REVISION_LABEL
from e2e.dataplane import FlagServer, FlagSpecSync, RevisionCounts
from e2e.dataplane.netload.service import ServiceTraffic
from e2e.demo.network import AGENT
from e2e.demoapp.flagd import FlagdSource
from e2e.prometheus.api import Endpoint
from tests.support.network import flag_apps
from tests.support.scenario import Harness
from tests.support.waiting import eventually

NAME, KEY = "checkout-flags", "new-checkout"
TARGETING = {"if": [{"==": [{"var": "revision"}, "v1"]}, "off", "on"]}
"""The old revision keeps the old code path; every other revision gets the new one."""
FLAG: dict[str, Any] = {
    "apiVersion": "core.openfeature.dev/v1beta1",
    "kind": "FeatureFlag",
    "metadata": {"name": NAME},
    "spec": {
        "flagSpec": {
            "flags": {
                KEY: {
                    "state": "ENABLED",
                    "variants": {"on": True, "off": False},
                    "defaultVariant": "on",
                    "targeting": TARGETING,
                },
                "other": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"},
            }
        }
    },
}


@pytest.fixture
def synced(harness: Harness, flags: client.CustomObjectsApi, tmp_path: Path) -> Iterator[Path]:
    """The FeatureFlag created, and a flagd file kept in sync with it."""
    del flags
    harness.apply(FLAG)
    path = tmp_path / f"{harness.namespace}_{NAME}.flagd.json"  # the operator's key
    with FlagSpecSync(api=harness.kube.api(), namespace=harness.namespace, name=NAME, path=path):
        yield path


@pytest.fixture
def checkout(harness: Harness, synced: Path) -> Iterator[ServiceTraffic]:
    """Apps (of the pods naming the demo's agent) that evaluate their ``FLAG`` on the
    synced flagd file, and 20 requests/s to the ``checkout`` Service."""
    with flag_apps(
        harness, flags=FlagServer(flagd_file=synced), service="checkout", rps=20
    ) as load:
        yield load


def _rollout(harness: Harness) -> None:
    harness.apply(
        {
            "apiVersion": v1alpha1.API_VERSION,
            "kind": v1alpha1.KIND,
            "metadata": {"name": "web"},
            "spec": {
                "workloadRef": {"name": "web"},
                "featureFlags": [
                    {
                        "name": KEY,
                        "openFeature": {"featureFlag": NAME, "flag": KEY, "offVariant": "off"},
                    }
                ],
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            },
        }
    )


def _flag_metrics(prometheus: Endpoint, namespace: str) -> dict[str, float]:
    """What the ``checkout`` app's SDK says of the flag, as last scraped."""
    names = "demo_flag_enabled|demo_flag_observed_off_timestamp_seconds"
    selector = f'__name__=~"{names}",namespace="{namespace}",revision="v2",flag="{KEY}"'
    return {s.labels["__name__"]: s.value for s in prometheus.query(f"{{{selector}}}")}


def _answers_after(load: ServiceTraffic, count: int) -> tuple[int, int]:
    """Wait for ``count`` more answers of the ``v2`` app; (answers, 5xx) among them."""

    def app() -> RevisionCounts:
        return load.counts().get("v2") or RevisionCounts()

    before = app()
    eventually(lambda: app().sent >= before.sent + count, timeout=30, what=f"{count} more answers")
    after = app()
    return after.sent - before.sent, after.errors - before.errors


def _seconds_until(condition: Callable[[], bool], *, timeout: float, since: float) -> float:
    """Poll ``condition`` every 5 ms; monotonic seconds from ``since`` until it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.005)
    return time.monotonic() - since


def test_the_api_server_validates_a_feature_flag(
    harness: Harness, flags: client.CustomObjectsApi
) -> None:
    bad = copy.deepcopy(FLAG)
    bad["metadata"]["name"] = "bad-flags"
    bad["spec"]["flagSpec"]["flags"][KEY]["state"] = "MAYBE"
    with pytest.raises(ApiException) as refused:
        flags.create_namespaced_custom_object(
            "core.openfeature.dev", "v1beta1", harness.namespace, "featureflags", bad
        )
    assert refused.value.status == 422
    assert "MAYBE" in str(refused.value.body)


def test_an_abort_turns_the_flag_off_in_the_apps_own_sdk_and_retry_turns_it_on(
    harness: Harness, synced: Path, checkout: ServiceTraffic, cluster_prometheus: Endpoint
) -> None:
    def app_flag() -> dict[str, float]:
        return _flag_metrics(cluster_prometheus, harness.namespace)

    with contextlib.ExitStack() as stack:
        sdk = FlagdSource(path=synced, flag=KEY, context={"revision": "v2"})
        stack.callback(sdk.close)
        old = FlagdSource(path=synced, flag=KEY, context={"revision": "v1"})
        stack.callback(old.close)
        # An app on the flag, in a pod of its own (no Rollout's), named revision "v2"
        # as the targeting names revisions; it fails every request while the flag is on.
        harness.create_app(
            name="checkout",
            replicas=1,
            agent=AGENT,
            env={"FLAG": KEY, "FLAG_ERROR_RATE": "1.0"},
            pod_labels={REVISION_LABEL: "v2"},
        )
        assert (sdk.is_on(), old.is_on()) == (True, False)  # targeting, as the CR says
        eventually(
            lambda: app_flag().get("demo_flag_enabled") == 1.0,
            timeout=30,
            what="the demo app's SDK sees the flag on",
        )
        answered, failed = _answers_after(checkout, 5)
        assert failed == answered  # every answer a 500

        harness.create_app(replicas=2)
        harness.start_controller()
        _rollout(harness)
        v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
        harness.set_image("web:v2")
        harness.wait_status("paused at 50 %", currentStepIndex=1, timeout=60)
        assert sdk.is_on()

        aborted, aborted_wall = time.monotonic(), time.time()
        harness.cli("abort", "web", "--reason", "checkout errors")
        off_after = _seconds_until(lambda: not sdk.is_on(), timeout=30, since=aborted)
        details = sdk.details()
        assert (details.value, details.variant) == (False, "off")
        assert not old.is_on()
        in_file = json.loads(synced.read_text())["flags"][KEY]
        assert (in_file["defaultVariant"], "targeting" in in_file) == ("off", False)
        eventually(  # scraped every second
            lambda: app_flag().get("demo_flag_enabled") == 0.0,
            timeout=10,
            what="the demo app's SDK sees the flag off",
        )
        app_off = app_flag()["demo_flag_observed_off_timestamp_seconds"]
        assert app_off > aborted_wall
        time.sleep(0.5)  # the answers in flight when the SDK changed have been counted
        answered, failed = _answers_after(checkout, 10)
        assert failed == 0  # every answer a 200
        harness.wait_status("degraded", phase="Degraded", stableRevision=v1)

        harness.cli("retry", "web")
        retried = time.monotonic()
        on_after = _seconds_until(sdk.is_on, timeout=60, since=retried)
        assert not old.is_on()  # the targeting rule is back
        assert json.loads(synced.read_text())["flags"] == FLAG["spec"]["flagSpec"]["flags"]
        eventually(
            lambda: app_flag().get("demo_flag_enabled") == 1.0,
            timeout=10,
            what="the demo app's SDK sees the flag on again",
        )
    print(
        f"\nabort → flagd in-process SDK observes the flag off: {off_after:.2f}s"
        f"\nabort → demo app's in-process SDK observed the flag off: {app_off - aborted_wall:.2f}s"
        f"\nretry (after the command returned) → SDK observes the flag on: {on_after:.2f}s"
    )
