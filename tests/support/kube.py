"""Access to the cluster under test: the kubeconfig, API clients and kubectl."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from kubernetes import client, config


@dataclass(frozen=True, kw_only=True)
class ClusterUnderTest:
    """A reachable cluster: the local control plane or one ``KUBECONFIG`` points at."""

    kubeconfig: Path
    kubectl_path: Path

    def api(self) -> client.ApiClient:
        return cast(
            client.ApiClient,
            config.new_client_from_config(config_file=str(self.kubeconfig)),  # type: ignore[no-untyped-call]
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc


def reachable(kubeconfig: Path) -> bool:
    """Whether the API server in ``kubeconfig`` answers a version request."""
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        client.VersionApi(api).get_code(_request_timeout=3)
    except Exception:
        return False
    return True
