"""Fixtures for running the ``landinggear`` CLI as a subprocess against the real API server.

No controller runs: tests create Rollouts with kubectl, write the status a verb
needs through the status subresource, run the CLI, and read back the world.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube import ClusterUnderTest

REPO = Path(__file__).resolve().parents[3]
CRD = REPO / "manifests/crds/rollouts.landinggear.dev.yaml"
SCRIPTS = Path(sysconfig.get_path("scripts"))
ADMIN = "landinggear-admin"


@pytest.fixture(scope="session")
def rollout_crd(kube: ClusterUnderTest) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(CRD))
    kube.kubectl(
        "wait", "--for=condition=Established", "crd/rollouts.landinggear.dev", "--timeout=60s"
    )


@dataclass(frozen=True, kw_only=True)
class Cli:
    """Runs the installed console scripts with ``KUBECONFIG`` pointing at the cluster."""

    kube: ClusterUnderTest
    namespace: str

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(kubeconfig or self.kube.kubeconfig),
            "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def run(
        self,
        *args: str,
        program: str = "landinggear",
        kubeconfig: Path | None = None,
        namespaced: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``landinggear ARGS -n <namespace>``; ``program`` may be a path such as kubectl's."""
        command = str(SCRIPTS / program) if "/" not in program else program
        flags = ["-n", self.namespace] if namespaced else []
        return subprocess.run(
            [command, *args, *flags],
            env=self.env(kubeconfig),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SCRIPTS / "landinggear"), *args, "-n", self.namespace],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def rollout(self, name: str = "web") -> dict[str, Any]:
        out = self.kube.kubectl("get", "rollout", name, "-n", self.namespace, "-o", "json").stdout
        rollout: dict[str, Any] = json.loads(out)
        return rollout

    def create_rollout(
        self, name: str = "web", *, status: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A Rollout of Deployment ``name`` with four steps, and ``status`` if given."""
        manifest = {
            "apiVersion": "landinggear.dev/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "workloadRef": {"name": name},
                "strategy": {
                    "canary": {
                        "steps": [
                            {"setWeight": 20},
                            {"pause": {}},
                            {"setWeight": 50},
                            {"pause": {"duration": "5m"}},
                        ]
                    }
                },
            },
        }
        self.kube.kubectl("create", "-f", "-", stdin=json.dumps(manifest))
        if status is not None:
            self.set_status(name, status)
        return self.rollout(name)

    def set_status(self, name: str, status: Mapping[str, Any]) -> None:
        self.kube.kubectl(
            *("patch", "rollout", name, "-n", self.namespace, "--subresource=status"),
            *("--type=merge", "-p", json.dumps({"status": status})),
        )

    def events(self, name: str = "web") -> list[dict[str, Any]]:
        """``events.k8s.io/v1`` Events regarding the Rollout ``name``."""
        out = self.kube.kubectl(
            "get", "events.events.k8s.io", "-n", self.namespace, "-o", "json"
        ).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return [e for e in items if e.get("regarding", {}).get("name") == name]


@pytest.fixture
def cli(kube: ClusterUnderTest, namespace: str, rollout_crd: None) -> Cli:
    return Cli(kube=kube, namespace=namespace)
