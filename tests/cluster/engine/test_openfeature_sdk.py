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
(every 0.1 s here); ``FlagdSource`` and the demo app (``--flagd-file``, started
through ``FlagServer(flagd_file=...)``) evaluate on it in their own process.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from controller.api import v1alpha1
from e2e.dataplane import Behaviour, FlagServer, FlagSpecSync
from e2e.dataplane.apps import AppProcess
from e2e.demoapp.flagd import FlagdSource
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


def _flag_metrics(http: httpx.Client, app: AppProcess) -> dict[str, float]:
    text = http.get(f"http://{app.address}/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("flag") == KEY
    }


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
    harness: Harness, synced: Path
) -> None:
    with contextlib.ExitStack() as stack:
        sdk = FlagdSource(path=synced, flag=KEY, context={"revision": "v2"})
        stack.callback(sdk.close)
        old = FlagdSource(path=synced, flag=KEY, context={"revision": "v1"})
        stack.callback(old.close)
        app = AppProcess(
            revision="v2",
            behaviour=Behaviour(flag=KEY, flag_error_rate=1.0),
            log_file=harness.log_dir / "demoapp-v2.log",
            flags=FlagServer(flagd_file=synced),
        )
        stack.callback(app.stop)
        http = stack.enter_context(httpx.Client(trust_env=False, timeout=5))
        eventually(app.answering, timeout=30, what="the demo app answering")
        assert (sdk.is_on(), old.is_on()) == (True, False)  # targeting, as the CR says
        assert [http.get(f"http://{app.address}/").status_code for _ in range(5)] == [500] * 5
        assert _flag_metrics(http, app)["demo_flag_enabled"] == 1.0

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
        eventually(
            lambda: _flag_metrics(http, app)["demo_flag_enabled"] == 0.0,
            timeout=5,
            what="the demo app's SDK sees the flag off",
        )
        app_off = _flag_metrics(http, app)["demo_flag_observed_off_timestamp_seconds"]
        assert app_off > aborted_wall
        assert [http.get(f"http://{app.address}/").status_code for _ in range(10)] == [200] * 10
        harness.wait_status("degraded", phase="Degraded", stableRevision=v1)

        harness.cli("retry", "web")
        retried = time.monotonic()
        on_after = _seconds_until(sdk.is_on, timeout=60, since=retried)
        assert not old.is_on()  # the targeting rule is back
        assert json.loads(synced.read_text())["flags"] == FLAG["spec"]["flagSpec"]["flags"]
        eventually(
            lambda: _flag_metrics(http, app)["demo_flag_enabled"] == 1.0,
            timeout=5,
            what="the demo app's SDK sees the flag on again",
        )
    print(
        f"\nabort → flagd in-process SDK observes the flag off: {off_after:.2f}s"
        f"\nabort → demo app's in-process SDK observed the flag off: {app_off - aborted_wall:.2f}s"
        f"\nretry (after the command returned) → SDK observes the flag on: {on_after:.2f}s"
    )
