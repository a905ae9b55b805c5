"""Access to the cluster under test: the kubeconfig, API clients and kubectl."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from kubernetes import client, config


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One write the API server audited."""

    received: datetime
    agent: str
    verb: str
    resource: str
    namespace: str
    name: str
    code: int


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

    @property
    def audit_log(self) -> Path | None:
        """The local control plane's audit log of the admin's writes (None elsewhere)."""
        path = self.kubeconfig.parent / "audit.log"
        return path if path.exists() else None

    def audit(self, *, since: datetime) -> list[AuditEvent]:
        """Audited writes received at or after ``since``."""
        if self.audit_log is None:
            raise AssertionError("this cluster keeps no audit log (restart the local cluster)")
        events = []
        for line in self.audit_log.read_text().splitlines():
            raw = json.loads(line)
            received = datetime.fromisoformat(raw["requestReceivedTimestamp"])
            if received < since:
                continue
            ref = raw.get("objectRef") or {}
            events.append(
                AuditEvent(
                    received=received,
                    agent=raw.get("userAgent", ""),
                    verb=raw["verb"],
                    resource=ref.get("resource", ""),
                    namespace=ref.get("namespace", ""),
                    name=ref.get("name", ""),
                    code=(raw.get("responseStatus") or {}).get("code", 0),
                )
            )
        return events

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
