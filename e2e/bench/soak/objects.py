"""The soak's objects: its namespace, Deployments and Rollouts, and the controllers' writes.

Each run has its own namespace; one interrupted earlier is deleted first, with
its Rollouts' hand-back finalizers removed (no controller is left to hand them
back). At the end the Rollouts are deleted while a controller still runs, so the
Deployments are handed back as a user would see it.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from controller.api import v1alpha1
from controller.settings import Settings
from e2e.localcluster import build

__all__ = [
    "ANALYSIS",
    "LEASE_SECONDS",
    "PREFIX",
    "REPLICAS",
    "STEPS",
    "api_client",
    "controller_writes",
    "deployment",
    "forget_old_runs",
    "hand_back",
    "install_crd",
    "retrying",
    "rollout",
]

ROOT = Path(__file__).resolve().parents[3]
PREFIX = "landinggear-soak"
"""Each run has its own namespace, ``landinggear-soak-<random>``."""
REPLICAS = 4
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "10s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]
ANALYSIS: dict[str, Any] = {
    "interval": "2s",
    "guard": {"duration": "40s"},
    "metrics": [
        {"name": "errors", "builtin": "app-errors"},
        {"name": "slow", "builtin": "app-latency", "latencyBoundSeconds": 0.1},
    ],
}


def api_client(kubeconfig: str) -> ApiClient:
    return cast(ApiClient, config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]


def retrying(what: str, call: Callable[[], object], *, timeout: float = 90) -> None:
    """``call`` until it succeeds: the API server may be restarting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except Exception as err:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {err}") from err
            time.sleep(0.5)


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "demo-app:v1"}]},
            },
        },
    }


def rollout(name: str) -> dict[str, Any]:
    return {
        "apiVersion": v1alpha1.API_VERSION,
        "kind": v1alpha1.KIND,
        "metadata": {"name": name},
        "spec": {
            "workloadRef": {"name": name},
            "progressDeadlineSeconds": 600,
            "strategy": {"canary": {"steps": STEPS, "analysis": ANALYSIS}},
        },
    }


def _rollouts(api: ApiClient, namespace: str) -> list[dict[str, Any]]:
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL
    )
    return list(cast(dict[str, Any], listed).get("items") or [])


def forget_old_runs(api: ApiClient) -> None:
    """Delete what an interrupted run left: its namespace, and the hand-back finalizers of
    its Rollouts (no controller is left to hand them back)."""
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    for ns in core.list_namespace().items:
        name = str(ns.metadata.name if ns.metadata else "")
        if not name.startswith(PREFIX + "-"):
            continue
        for rollout in _rollouts(api, name):
            custom.patch_namespaced_custom_object(
                v1alpha1.GROUP, v1alpha1.VERSION, name, v1alpha1.PLURAL,
                rollout["metadata"]["name"], {"metadata": {"finalizers": None}},
            )  # fmt: skip
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)


def hand_back(api: ApiClient, namespace: str, timeout: float = 60) -> None:
    """Delete the Rollouts while a controller runs, so it hands the Deployments back."""
    custom = client.CustomObjectsApi(api)
    custom.delete_collection_namespaced_custom_object(
        v1alpha1.GROUP, v1alpha1.VERSION, namespace, v1alpha1.PLURAL
    )
    deadline = time.monotonic() + timeout
    while _rollouts(api, namespace) and time.monotonic() < deadline:
        time.sleep(0.5)


def install_crd(kubeconfig: str) -> None:
    crd = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
    kubectl = build.ensure_binaries().kubectl
    subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "apply", "--server-side",
         "--force-conflicts", "-f", str(crd)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


_AGENT = re.compile(r"^landinggear/\S+ \((?P<identity>[^)]+)\)")
LEASE_SECONDS = float(Settings.model_fields["lease_duration"].default)


def controller_writes(audit_log: Path, namespace: str, since: float) -> list[tuple[float, str]]:
    """(time, identity) of every write the controllers made in ``namespace`` since
    ``since``, Lease renewals aside, from the API server's audit log."""
    writes = []
    with open(audit_log) as lines:
        for line in lines:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            agent = _AGENT.match(event.get("userAgent", ""))
            if (
                agent is None
                or ref.get("namespace") != namespace
                or ref.get("resource") == "leases"
            ):
                continue
            at = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
            if at >= since:
                writes.append((at, agent.group("identity")))
    return writes
