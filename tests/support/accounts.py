"""Kubeconfigs that authenticate as a ServiceAccount (a TokenRequest token), for
tests that must run with exactly the rights a role grants, not the admin's.

:func:`shipped_controller_kubeconfig` is the one the engine scenarios' controllers
use: the ServiceAccount, ClusterRole and bindings of ``manifests/controller/``
exactly as shipped, so a rule the controller needs and the manifests lack fails
the test that needs it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[2]
CONTROLLER_MANIFESTS = ROOT / "manifests" / "controller"
CONTROLLER_ACCOUNT = ("landinggear-system", "landinggear-controller")
"""The shipped controller's ServiceAccount: namespace, name."""
LEADER_ELECTION_ROLE = "landinggear-leader-election"


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
    for name in ("namespace.yaml", "account.yaml", "rbac.yaml"):
        kube.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(CONTROLLER_MANIFESTS / name)
        )
    namespace, account = CONTROLLER_ACCOUNT
    token = kube.kubectl(
        "create", "token", account, "-n", namespace, "--duration=6h"
    ).stdout.strip()
    config = _kubeconfig(kube, user=f"{namespace}-{account}", token=token, namespace=namespace)
    path.write_text(json.dumps(config))
    return path


def leader_election_grant(namespace: str) -> list[dict[str, Any]]:
    """The shipped leader-election Role and RoleBinding, moved to ``namespace``: the
    controllers of a scenario keep their Lease in its own namespace."""
    shipped = list(yaml.safe_load_all((CONTROLLER_MANIFESTS / "account.yaml").read_text()))
    found = [
        copy.deepcopy(doc)
        for doc in shipped
        if doc
        and doc["kind"] in ("Role", "RoleBinding")
        and doc["metadata"]["name"] == LEADER_ELECTION_ROLE
    ]
    if len(found) != 2:
        raise AssertionError(f"{LEADER_ELECTION_ROLE} Role and RoleBinding not in account.yaml")
    for doc in found:
        doc["metadata"]["namespace"] = namespace
    return found
