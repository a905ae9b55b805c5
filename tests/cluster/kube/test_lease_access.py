"""``landinggear run`` stops at once, saying what to do, when its Lease cannot be used:
RBAC forbids it or its namespace does not exist (it used to retry forever, logging
``ApiException()``). The check itself changes nothing (dry-run writes)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import cast

import pytest
from kubernetes import client, config

from controller.kube.lease import KubeLeaseLock, LeaseRecord, LeaseUnusable
from controller.manager import EXIT_LEASE_UNUSABLE
from tests.support.accounts import service_account_kubeconfig
from tests.support.kube import ClusterUnderTest

ROOT = Path(__file__).parents[3]
LEASE = "landinggear-controller"


def run_controller(kubeconfig: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``landinggear run`` with default Lease settings; it must end well within 30 s."""
    return subprocess.run(
        [sys.executable, "-m", "controller", "run", f"--kubeconfig={kubeconfig}",
         "--metrics-address=127.0.0.1:0", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def grant(kube: ClusterUnderTest, namespace: str, account: str, verbs: str) -> None:
    role = f"lease-{verbs.replace(',', '-')}"
    kube.kubectl("create", "role", role, f"--verb={verbs}", "--resource=leases", "-n", namespace)
    kube.kubectl("create", "rolebinding", role, f"--role={role}",
                 f"--serviceaccount={namespace}:{account}", "-n", namespace)  # fmt: skip


def as_account(path: Path) -> client.ApiClient:
    return cast(client.ApiClient, config.new_client_from_config(config_file=str(path)))  # type: ignore[no-untyped-call]


def test_run_without_rights_on_the_lease_exits_at_once_naming_what_to_grant(
    kube: ClusterUnderTest, namespace: str, tmp_path: Path
) -> None:
    # No --lease-namespace: the kubeconfig context's namespace is the Lease's.
    kubeconfig = service_account_kubeconfig(kube, namespace, "nobody", tmp_path / "kubeconfig")

    proc = run_controller(kubeconfig)

    assert proc.returncode == EXIT_LEASE_UNUSABLE, proc.stderr
    assert f"RBAC forbids get on lease {namespace}/{LEASE}: 403 Forbidden: " in proc.stderr
    assert 'cannot get resource \\"leases\\" in API group \\"coordination.k8s.io\\"' in (
        proc.stderr
    )
    assert "Grant the controller's identity get, create and update on leases" in proc.stderr
    assert "ApiException()" not in proc.stderr


def test_run_with_a_missing_lease_namespace_exits_at_once_saying_to_create_it(
    kube: ClusterUnderTest, tmp_path: Path
) -> None:
    missing = f"lg-missing-{uuid.uuid4().hex[:8]}"

    proc = run_controller(kube.kubeconfig, f"--lease-namespace={missing}")

    assert proc.returncode == EXIT_LEASE_UNUSABLE, proc.stderr
    assert f"the namespace of lease {missing}/{LEASE} does not exist: 404 NotFound" in proc.stderr
    assert f"kubectl create namespace {missing}" in proc.stderr


def test_the_check_passes_with_the_rights_and_writes_nothing(
    kube: ClusterUnderTest, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(kube, namespace, "elector", tmp_path / "kubeconfig")
    grant(kube, namespace, "elector", "get,create")
    lock = KubeLeaseLock(as_account(kubeconfig), namespace=namespace, name=LEASE)
    admin = KubeLeaseLock(kube.api(), namespace=namespace, name=LEASE)

    lock.check(timeout=10)  # may get and create: enough while there is no Lease
    assert admin.get(timeout=10) is None  # the create was a dry run

    admin.create(LeaseRecord(holder="other", lease_duration_seconds=15), timeout=10)
    with pytest.raises(LeaseUnusable, match=f"RBAC forbids update on lease {namespace}/{LEASE}"):
        lock.check(timeout=10)  # a Lease exists: taking it over needs update

    grant(kube, namespace, "elector", "update")
    lock.check(timeout=10)
    found = admin.get(timeout=10)
    assert found is not None
    assert found.record.holder == "other"  # the update was a dry run


def test_run_whose_credentials_the_api_server_rejects_exits_at_once_saying_so(
    kube: ClusterUnderTest, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(kube, namespace, "nobody", tmp_path / "kubeconfig")
    token = "canary-rejected-token-5f1c"  # not a token the API server issued
    document = json.loads(kubeconfig.read_text())
    (user,) = document["users"]
    user["user"] = {"token": token}
    forged = tmp_path / "forged"
    forged.write_text(json.dumps(document))

    proc = run_controller(forged)

    assert proc.returncode == EXIT_LEASE_UNUSABLE, proc.stderr
    assert "the API server rejects the controller's credentials (401 Unauthorized" in proc.stderr
    assert "check the kubeconfig's user, or the ServiceAccount token" in proc.stderr
    assert token not in proc.stderr
