"""The control plane's own processes: etcd → kube-apiserver → kube-controller-manager,
kube-scheduler, kwok, each on loopback and waited for, then the kwok node.

Started by :func:`e2e.localcluster.cluster.up` (which records them and stops them).
The API server audits every write the admin identity makes to :data:`AUDIT_LOG`.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from e2e.localcluster import build, cluster, pki, stages

PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
"""In start order."""


def _kubectl(state: cluster.State, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [state.binaries["kubectl"], f"--kubeconfig={state.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise subprocess.SubprocessError(proc.stderr.strip() or proc.stdout.strip())
    return proc.stdout


NODE_PODS = 30000
"""The kwok node's pod capacity: the scale benchmark's 10,000 Rollouts need 10,000 pods
and their canaries (a capacity of 2,000 left 6,000 of them Pending)."""


def _node_manifest() -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": cluster.NODE_NAME,
                "annotations": {cluster.KWOK_NODE_ANNOTATION: "fake"},
                "labels": {
                    "kubernetes.io/hostname": cluster.NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": str(NODE_PODS)},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": str(NODE_PODS)},
            },
        }
    )


AUDIT_LOG = "audit.log"
"""Beside the admin kubeconfig: one JSON line per write the admin identity or the
shipped controller ServiceAccount (:data:`CONTROLLER_USER`) made."""

CONTROLLER_USER = "system:serviceaccount:landinggear-system:landinggear-controller"
"""The identity of ``manifests/controller/``'s ServiceAccount, which tests run controllers as."""

_AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: [{pki.ADMIN.user}, "{CONTROLLER_USER}"]
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
"""


def _write_audit_policy(run_dir: Path) -> Path:
    path = run_dir / "audit-policy.yaml"
    path.write_text(_AUDIT_POLICY)
    return path


def start(state: cluster.State, binaries: build.Binaries, configs: dict[str, Path]) -> None:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, each
    waited for; then the node and the default ServiceAccount."""
    run_dir = Path(state.run_dir)
    pki_dir = run_dir / "pki"
    ports = state.ports
    logs = run_dir / "logs"

    cluster.start_process(
        state,
        "etcd",
        binaries.etcd,
        [
            "--name=default",
            f"--data-dir={run_dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=default=http://127.0.0.1:{ports['etcd-peer']}",
            "--unsafe-no-fsync",  # throwaway test data: trade durability for speed
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ],
    )

    def etcd_ok() -> bool:
        cluster.check_running(state, "etcd")
        url = f"http://127.0.0.1:{ports['etcd']}/health"
        with urllib.request.urlopen(url, timeout=1) as resp:
            return '"true"' in resp.read().decode()

    cluster.wait_until("etcd", etcd_ok, timeout=30, log=logs / "etcd.log")

    cluster.start_process(
        state,
        "kube-apiserver",
        binaries.kube_apiserver,
        [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={cluster.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # The apiserver's own Endpoints for `kubernetes` would hold 127.0.0.1,
            # which Endpoints validation rejects; nothing here dials it in-cluster.
            "--endpoint-reconciler-type=none",
            # Writes by the admin identity (tests, CLI) and by the shipped controller
            # ServiceAccount are audited, so a test can tell which process wrote
            # what, and when.
            f"--audit-policy-file={_write_audit_policy(run_dir)}",
            f"--audit-log-path={run_dir / AUDIT_LOG}",
            "--audit-log-format=json",
            "--audit-log-maxsize=200",
            "--audit-log-maxbackup=1",
            "--profiling=false",
            "--v=0",
        ],
    )

    def apiserver_ok() -> bool:
        cluster.check_running(state, "kube-apiserver")
        status, _ = cluster.https_get(state, "/readyz", timeout=2)
        return status == 200

    cluster.wait_until(
        "kube-apiserver /readyz", apiserver_ok, timeout=90, log=logs / "kube-apiserver.log"
    )

    cluster.start_process(
        state,
        "kube-controller-manager",
        binaries.kube_controller_manager,
        [
            f"--kubeconfig={configs['controller-manager']}",
            f"--authentication-kubeconfig={configs['controller-manager']}",
            f"--authorization-kubeconfig={configs['controller-manager']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller-manager']}",
            f"--service-account-private-key-file={pki_dir / 'sa.key'}",
            f"--root-ca-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={cluster.SERVICE_CIDR}",
            "--leader-elect=false",
            "--controllers=*",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=0",
        ],
    )
    cluster.start_process(
        state,
        "kube-scheduler",
        binaries.kube_scheduler,
        [
            f"--kubeconfig={configs['scheduler']}",
            f"--authentication-kubeconfig={configs['scheduler']}",
            f"--authorization-kubeconfig={configs['scheduler']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            "--leader-elect=false",
            "--v=0",
        ],
    )
    kwok_config = run_dir / "kwok.yaml"
    kwok_config.write_text(stages.kwok_config())
    cluster.start_process(
        state,
        "kwok",
        binaries.kwok,
        [
            f"--kubeconfig={configs['kwok']}",
            f"--config={kwok_config}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={cluster.KWOK_NODE_ANNOTATION}=fake",
            f"--cidr={cluster.POD_CIDR}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
        ],
    )
    for proc_name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        cluster.check_running(state, proc_name)

    cluster.wait_until(
        "Node creation",
        lambda: _kubectl(state, "apply", "-f", "-", stdin=_node_manifest()) is not None,
        timeout=30,
        log=None,
    )

    def node_ready() -> bool:
        for proc_name in PROCESSES:
            cluster.check_running(state, proc_name)
        out = _kubectl(
            state,
            "get",
            "node",
            cluster.NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        )
        return out.strip() == "True"

    cluster.wait_until(
        f"node {cluster.NODE_NAME} Ready", node_ready, timeout=60, log=logs / "kwok.log"
    )

    def default_service_account() -> bool:
        _kubectl(state, "get", "serviceaccount", "default", "--namespace=default")
        return True

    cluster.wait_until("the default ServiceAccount", default_service_account, timeout=60, log=None)
