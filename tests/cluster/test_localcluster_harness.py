"""The ``python -m e2e.localcluster`` interface other tools depend on."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from e2e import netns
from e2e.localcluster import cluster, crds
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "e2e.localcluster", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_up_on_a_running_cluster_reuses_it_and_prints_kubeconfig_last(
    kube: ClusterUnderTest,
) -> None:
    state, healthy = cluster.status()
    if state is None or not healthy or Path(state.kubeconfig) != kube.kubeconfig:
        pytest.skip("the suite runs against a cluster other than the local control plane")

    proc = _harness("up")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == state.kubeconfig
    assert "already running" in proc.stderr
    assert cluster.status()[0] == state  # same processes, nothing restarted


def test_down_stops_every_process_up_started_and_removes_its_data() -> None:
    name = f"lg-test-{uuid.uuid4().hex[:6]}"
    try:
        _up_and_down(name)
    finally:
        cluster.down(name)  # a failed assertion must not leave a cluster running


def _up_and_down(name: str) -> None:
    up = _harness("--name", name, "up")
    assert up.returncode == 0, up.stderr
    state = cluster.State.load(cluster.run_dir_for(name))
    assert state is not None
    assert set(state.pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "kube-proxy",
        "pod-agent",
        "relay-apiserver-host",
        "relay-apiserver-netns",
        "relay-kube-proxy-healthz-netns",
        "relay-kube-proxy-healthz-host",
        "prometheus",
        "relay-prometheus-netns",
        "relay-prometheus-host",
    }
    assert netns.exists(netns.name_for(name))
    assert _harness("--name", name, "status").returncode == 0

    down = _harness("--name", name, "down")

    assert down.returncode == 0, down.stderr
    assert not any(cluster.process_alive(pid) for pid in state.pids.values())
    assert not Path(state.run_dir).exists()
    assert not netns.exists(netns.name_for(name))
    assert not Path(f"/tmp/lg-podagent-{netns.name_for(name)}").exists()
    status = _harness("--name", name, "status")
    assert status.returncode == 1
    assert "not running" in status.stdout


def test_down_after_a_crash_removes_the_leftover_namespace_and_what_runs_in_it() -> None:
    name = f"lg-test-{uuid.uuid4().hex[:6]}"
    leftover = netns.name_for(name)
    netns.create(leftover, local_cidrs=[cluster.POD_CIDR])
    stray = subprocess.Popen(netns.argv_in(leftover, ["sleep", "300"]))
    try:
        assert _harness("--name", name, "down").stdout.strip() == "not running"
        assert stray.wait(timeout=10) != 0  # killed
        assert not netns.exists(leftover)
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
        netns.delete(leftover)


def test_third_party_crds_from_upstream_modules_are_served(
    kube: ClusterUnderTest, namespace: str
) -> None:
    crds.install(kubectl=kube.kubectl_path, kubeconfig=kube.kubeconfig, names=tuple(crds.BUNDLES))
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "web-stable", "port": 80, "weight": 80},
                            {"name": "web-canary", "port": 80, "weight": 20},
                        ]
                    }
                ]
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {
                "hosts": ["web"],
                "http": [{"route": [{"destination": {"host": "web"}, "weight": 100}]}],
            },
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "web"},
            "spec": {"service": "web", "backends": [{"service": "web-canary", "weight": 20}]},
        },
        {
            "apiVersion": "core.openfeature.dev/v1beta1",
            "kind": "FeatureFlag",
            "metadata": {"name": "web-flags"},
            "spec": {
                "flagSpec": {
                    "flags": {
                        "new-checkout": {
                            "state": "ENABLED",
                            "variants": {"on": True, "off": False},
                            "defaultVariant": "on",
                        }
                    }
                }
            },
        },
    ]
    for obj in objects:
        kube.kubectl("apply", f"--namespace={namespace}", "-f", "-", stdin=json.dumps(obj))

    custom = client.CustomObjectsApi(kube.api())
    route: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
        "gateway.networking.k8s.io", "v1", namespace, "httproutes", "web"
    )
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [80, 20]
    flag: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
        "core.openfeature.dev", "v1beta1", namespace, "featureflags", "web-flags"
    )
    assert flag["spec"]["flagSpec"]["flags"]["new-checkout"]["state"] == "ENABLED"

    # The upstream schemas are enforced, not just stored.
    bad_flag = json.loads(json.dumps(objects[3]))
    bad_flag["metadata"]["name"] = "bad"
    bad_flag["spec"]["flagSpec"]["flags"]["new-checkout"]["state"] = "MAYBE"
    rejected = kube.kubectl(
        "apply", f"--namespace={namespace}", "-f", "-", stdin=json.dumps(bad_flag), check=False
    )
    assert rejected.returncode != 0
    assert 'Unsupported value: "MAYBE"' in rejected.stderr
