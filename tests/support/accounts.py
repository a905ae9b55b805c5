"""Kubeconfigs that authenticate as a ServiceAccount (a TokenRequest token), for
tests that must run with exactly the rights a role grants, not the admin's."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support.kube import ClusterUnderTest


def service_account_kubeconfig(
    kube: ClusterUnderTest, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig authenticating as ServiceAccount ``account`` with a TokenRequest token."""
    kube.kubectl("create", "serviceaccount", account, "-n", namespace)
    token = kube.kubectl(
        "create", "token", account, "-n", namespace, "--duration=10m"
    ).stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = current["context"]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [c for c in admin["clusters"] if c["name"] == cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {
                "name": account,
                "context": {"cluster": cluster, "user": account, "namespace": namespace},
            }
        ],
        "current-context": account,
    }
    path.write_text(json.dumps(config))
    return path
