"""Kubeconfigs that authenticate as a ServiceAccount (a TokenRequest token), for
tests that must run with exactly the rights a role grants, not the admin's.

:func:`shipped_controller_kubeconfig` is the one the engine scenarios' controllers
use: the ServiceAccount, ClusterRole and bindings of ``manifests/controller/``
exactly as shipped, so a rule the controller needs and the manifests lack fails
the test that needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster import accounts
from e2e.localcluster.accounts import CONTROLLER_ACCOUNT, leader_election_grant
from tests.support.kube import ClusterUnderTest

__all__ = [
    "CONTROLLER_ACCOUNT",
    "leader_election_grant",
    "service_account_kubeconfig",
    "shipped_controller_kubeconfig",
]


def _kubeconfig(kube: ClusterUnderTest, *, user: str, token: str, namespace: str) -> dict[str, Any]:
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = current["context"]["cluster"]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [c for c in admin["clusters"] if c["name"] == cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": user, "context": {"cluster": cluster, "user": user, "namespace": namespace}}
        ],
        "current-context": user,
    }


def service_account_kubeconfig(
    kube: ClusterUnderTest, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig authenticating as ServiceAccount ``account`` with a TokenRequest token."""
    kube.kubectl("create", "serviceaccount", account, "-n", namespace)
    token = kube.kubectl(
        "create", "token", account, "-n", namespace, "--duration=10m"
    ).stdout.strip()
    path.write_text(json.dumps(_kubeconfig(kube, user=account, token=token, namespace=namespace)))
    return path


def shipped_controller_kubeconfig(kube: ClusterUnderTest, path: Path) -> Path:
    """Apply the shipped namespace and RBAC, then a kubeconfig for the controller's
    ServiceAccount (a token valid for 6 hours: a whole test session)."""
    return accounts.controller_kubeconfig(kube.kubectl_path, kube.kubeconfig, path)
