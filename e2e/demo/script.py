"""What the demo's acts share: the app, its Rollout and settings, and a shell that
echoes each command as a user would type it (``e2e.demo.story`` runs the acts)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from e2e.demo.network import POD_ANNOTATIONS
from e2e.demo.stack import ROOT

__all__ = [
    "ANALYSIS",
    "BAD_ERROR_RATE",
    "CRD",
    "NAME",
    "QUIET",
    "RELEASE_TIMEOUT",
    "REPLICAS",
    "DemoFailed",
    "Options",
    "Shell",
    "manifests",
]

NAME = "web"
REPLICAS = 3
APP_PORT = 8080
"""The demo app's port in each pod (the Service sends port 80 there)."""
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {"duration": "10s"}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
]
ANALYSIS: dict[str, Any] = {
    "interval": "2s",
    "alpha": 0.01,
    "minRatio": 1.5,
    "metrics": [
        {"name": "errors", "builtin": "app-errors"},
        {"name": "latency", "builtin": "app-latency", "latencyBoundSeconds": 0.25},
    ],
}
BASELINE_ENV = [  # every revision: 0.5 % errors, 20 ± 10 ms
    {"name": "ERROR_RATE", "value": "0.005"},
    {"name": "LATENCY_MS", "value": "20"},
    {"name": "LATENCY_JITTER_MS", "value": "10"},
]
BAD_ERROR_RATE = "0.1"
CRD = ROOT / "manifests" / "crds" / "rollouts.landinggear.dev.yaml"
RELEASE_TIMEOUT = 90.0
QUIET = 2.0
"""Seconds without a request to a revision after which its traffic counts as gone."""


class DemoFailed(Exception):
    """The story did not go as it should; the message says where and where the logs are."""


@dataclass(frozen=True, kw_only=True)
class Options:
    kubeconfig: str
    kubectl: Path
    namespace: str
    log_dir: Path
    rps: float = 100.0
    on_terminal: bool = False
    out: TextIO = sys.stdout


class Shell:
    """kubectl and landinggear as a user types them, echoed with a ``$`` prompt."""

    def __init__(self, options: Options) -> None:
        self._options = options

    def _run(self, args: list[str], shown: str, *, stdin: str | None, echo: bool) -> str:
        if echo:
            self._print(f"$ {shown}")
        proc = subprocess.run(
            args, input=stdin, capture_output=True, text=True, check=False, timeout=120, cwd=ROOT
        )
        if proc.returncode != 0:
            raise DemoFailed(f"{shown} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def _print(self, text: str) -> None:
        print(text, file=self._options.out, flush=True)

    def kubectl(
        self, *args: str, stdin: str | None = None, echo: bool = True, shown: str = ""
    ) -> str:
        o = self._options
        full = [str(o.kubectl), f"--kubeconfig={o.kubeconfig}", f"--namespace={o.namespace}"]
        shown = shown or shlex.join(["kubectl", *args])
        return self._run([*full, *args], shown, stdin=stdin, echo=echo)

    def landinggear(self, *args: str, echo: bool = True) -> str:
        o = self._options
        full = [sys.executable, "-m", "controller"]
        cluster = [f"--kubeconfig={o.kubeconfig}", f"--namespace={o.namespace}"]
        return self._run(
            [*full, *args[:1], *cluster, *args[1:]],
            shlex.join(["landinggear", *args]),
            stdin=None,
            echo=echo,
        )


def manifests(*, network: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The app (Deployment and Service) and its Rollout. ``network``: pods annotated
    for the local cluster's network (an app per pod, scraped by the cluster's
    Prometheus; such a pod is Ready only once its app answers)."""
    labels = {"app": NAME}
    app = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": NAME, "labels": labels},
                "spec": {
                    "replicas": REPLICAS,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {
                            "labels": labels,
                            "annotations": POD_ANNOTATIONS if network else {},
                        },
                        "spec": {
                            "containers": [
                                {
                                    "name": NAME,
                                    "image": f"{NAME}:v1",
                                    "env": BASELINE_ENV,
                                    "ports": [{"containerPort": APP_PORT}],
                                }
                            ]
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": NAME},
                "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": APP_PORT}]},
            },
        ],
    }
    rollout = {
        "apiVersion": "landinggear.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME},
        "spec": {
            "workloadRef": {"name": NAME},
            "strategy": {"canary": {"steps": STEPS, "analysis": ANALYSIS}},
        },
    }
    return app, rollout
