"""The shipped controller ServiceAccount, for running controllers with exactly its rights.

:func:`controller_kubeconfig` applies ``manifests/controller/``'s namespace,
ServiceAccount and RBAC as shipped, copies the shipped leader-election Role
into the namespace the controllers keep their Lease in, and writes a kubeconfig
holding a TokenRequest token for the ServiceAccount: a rule the controller needs
and the manifests lack then fails whatever runs the controller with it (the
engine scenarios, the kill-soak).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CONTROLLER_ACCOUNT", "controller_kubeconfig", "leader_election_grant"]

ROOT = Path(__file__).parents[2]
MANIFESTS = ROOT / "manifests" / "controller"
CONTROLLER_ACCOUNT = ("landinggear-system", "landinggear-controller")
"""The shipped controller's ServiceAccount: namespace, name."""
LEADER_ELECTION_ROLE = "landinggear-leader-election"


def _kubectl(kubectl: Path, kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def leader_election_grant(namespace: str) -> list[dict[str, Any]]:
    """The shipped leader-election Role and RoleBinding, moved to ``namespace``."""
    shipped = yaml.safe_load_all((MANIFESTS / "account.yaml").read_text())
    found = [
        copy.deepcopy(doc)
        for doc in shipped
        if doc
        and doc["kind"] in ("Role", "RoleBinding")
        and doc["metadata"]["name"] == LEADER_ELECTION_ROLE
    ]
    if len(found) != 2:
        raise RuntimeError(f"{LEADER_ELECTION_ROLE} Role and RoleBinding not in account.yaml")
    for doc in found:
        doc["metadata"]["namespace"] = namespace
    return found


def controller_kubeconfig(
    kubectl: Path, admin: Path, path: Path, *, lease_namespaces: tuple[str, ...] = ()
) -> Path:
    """Apply the shipped namespace and RBAC (and the leader-election grant in each of
    ``lease_namespaces``), then write a kubeconfig for the controller's ServiceAccount
    at ``path`` (a token valid for 6 hours) from the ``admin`` kubeconfig."""
    for name in ("namespace.yaml", "account.yaml", "rbac.yaml"):
        _kubectl(kubectl, admin, "apply", "--server-side", "--force-conflicts",
                 "-f", str(MANIFESTS / name))  # fmt: skip
    for namespace in lease_namespaces:
        for doc in leader_election_grant(namespace):
            _kubectl(kubectl, admin, "apply", "-f", "-", stdin=json.dumps(doc))
    namespace, account = CONTROLLER_ACCOUNT
    token = _kubectl(
        kubectl, admin, "create", "token", account, "-n", namespace, "--duration=6h"
    ).strip()
    config = yaml.safe_load(admin.read_text())
    user = f"{namespace}-{account}"
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = current["context"]["cluster"]
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [c for c in config["clusters"] if c["name"] == cluster],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [
                    {"name": user,
                     "context": {"cluster": cluster, "user": user, "namespace": namespace}}
                ],
                "current-context": user,
            }
        )
    )  # fmt: skip
    return path
