"""The install a cluster admin runs: ``kubectl apply -k manifests/`` and the
namespace-scoped overlay, applied to the real API server with its real Pod
Security admission, and a release run with the namespace-scoped rights alone."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from controller.kube.transport import open_request
from tests.support.accounts import CONTROLLER_ACCOUNT
from tests.support.kube import ClusterUnderTest
from tests.support.scenario import Harness
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[3]
MANIFESTS = ROOT / "manifests"
DIGEST = "sha256:" + "0123456789abcdef" * 4
DEPLOYED = ("deployment", "poddisruptionbudget", "networkpolicy", "service")


def _overlay(directory: Path, base: Path, **fields: Any) -> Path:
    """A kustomization in ``directory`` over ``base`` (kustomize wants a relative path)."""
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, directory)],
        **fields,
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(body))
    return directory


def _render(kube: ClusterUnderTest, directory: Path) -> list[dict[str, Any]]:
    text = kube.kubectl("kustomize", str(directory)).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} rendered"
    return found[0]


@pytest.fixture
def installed(kube: ClusterUnderTest, rollout_crd: None) -> Iterator[list[dict[str, Any]]]:
    """``kubectl apply -k manifests/``; the controller's Deployment and its companions
    are deleted after the test (the CRD, namespace and RBAC stay: the suite uses them)."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(MANIFESTS))
    yield _render(kube, MANIFESTS)
    namespace = CONTROLLER_ACCOUNT[0]
    for kind in DEPLOYED:
        kube.kubectl(
            "delete", kind, "-n", namespace, "-l", "app.kubernetes.io/name=landinggear",
            "--wait=false", check=False,
        )  # fmt: skip


def test_the_install_renders_every_part_with_the_image_pinned_by_digest(
    kube: ClusterUnderTest, tmp_path: Path
) -> None:
    docs = _render(kube, MANIFESTS)
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == [
        "ClusterRole/landinggear-controller",
        "ClusterRole/landinggear-operator",
        "ClusterRole/landinggear-viewer",
        "ClusterRoleBinding/landinggear-controller",
        "CustomResourceDefinition/rollouts.landinggear.dev",
        "Deployment/landinggear-controller",
        "FlowSchema/landinggear-leader-election",
        "Namespace/landinggear-system",
        "NetworkPolicy/landinggear-controller",
        "PodDisruptionBudget/landinggear-controller",
        "Role/landinggear-leader-election",
        "RoleBinding/landinggear-leader-election",
        "Service/landinggear-controller-metrics",
        "ServiceAccount/landinggear-controller",
        "ValidatingAdmissionPolicy/landinggear-request-by",
        "ValidatingAdmissionPolicyBinding/landinggear-request-by",
    ]
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert _one(docs, "Namespace")["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "restricted"
    }
    pinned = _overlay(
        tmp_path / "pinned",
        MANIFESTS,
        images=[{"name": "landinggear", "newName": "registry.example.org/lg", "digest": DIGEST}],
    )
    image = _one(_render(kube, pinned), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == f"registry.example.org/lg@{DIGEST}"


def test_pod_security_restricted_admits_the_controller_pods_and_refuses_a_lax_pod(
    kube: ClusterUnderTest, installed: list[dict[str, Any]]
) -> None:
    namespace = CONTROLLER_ACCOUNT[0]
    apps = client.AppsV1Api(kube.api())

    def created() -> bool | None:
        sets = apps.list_namespaced_replica_set(
            namespace, label_selector="app.kubernetes.io/name=landinggear"
        ).items
        total = 0
        for rs in sets:
            total += rs.status.replicas or 0
        return True if total == 2 else None

    eventually(created, timeout=60, what="both controller pods admitted and created")
    events = kube.kubectl(
        "get", "events", "-n", namespace, "--field-selector=reason=FailedCreate", "-o", "json"
    ).stdout
    assert json.loads(events)["items"] == []

    # The namespace really enforces "restricted": the same pod without its
    # securityContext is refused by the admission plugin (a server-side dry run).
    template = _one(installed, "Deployment")["spec"]["template"]
    lax = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lax", "namespace": namespace},
        "spec": {
            **{k: v for k, v in template["spec"].items() if k != "securityContext"},
            "containers": [
                {k: v for k, v in c.items() if k != "securityContext"}
                for c in template["spec"]["containers"]
            ],
        },
    }
    refused = kube.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(lax), check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr, refused.stderr


def test_the_controllers_lease_requests_get_the_leader_election_priority_level(
    kube: ClusterUnderTest, installed: list[dict[str, Any]], controller_kubeconfig: Path
) -> None:
    """API Priority and Fairness names the flow schema and priority level that served a
    request in its response headers: the shipped account's Lease requests are served at
    ``leader-election``, its other requests at ``workload-low`` (the default for
    ServiceAccounts)."""
    namespace = CONTROLLER_ACCOUNT[0]
    levels = json.loads(kube.kubectl("get", "prioritylevelconfigurations", "-o", "json").stdout)
    uid = {item["metadata"]["uid"]: item["metadata"]["name"] for item in levels["items"]}
    api = config.new_client_from_config(config_file=str(controller_kubeconfig))  # type: ignore[no-untyped-call]

    def level_of(path: str) -> str:
        headers: Mapping[str, str]
        try:
            response = open_request(api, "GET", path)
            response.read()
            headers = response.headers
        except ApiException as err:  # a 404 (no Lease yet) is classified all the same
            headers = err.headers or {}
        return str(uid.get(headers.get("X-Kubernetes-PF-PriorityLevel-UID", ""), "?"))

    lease = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/landinggear-controller"
    eventually(lambda: level_of(lease) == "leader-election" or None, timeout=30,
               what="the Lease served at leader-election")  # fmt: skip
    assert level_of("/apis/landinggear.dev/v1alpha1/rollouts") == "workload-low"


def test_the_namespaced_role_has_exactly_the_cluster_roles_rules() -> None:
    cluster = yaml.safe_load_all((MANIFESTS / "controller" / "rbac.yaml").read_text())
    role = yaml.safe_load_all((MANIFESTS / "namespaced" / "role.yaml").read_text())
    cluster_rules = next(
        d
        for d in cluster
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "landinggear-controller"
    )["rules"]
    assert next(d for d in role if d["kind"] == "Role")["rules"] == cluster_rules


def test_a_namespace_scoped_install_releases_with_its_role_alone(
    harness: Harness, tmp_path: Path
) -> None:
    """The overlay applied into the test's namespace; the controller authenticates as
    that namespace's ServiceAccount, which no ClusterRole binds (a cluster-wide list
    or watch would be refused): adoption, a canary step and promotion work."""
    kube, namespace = harness.kube, harness.namespace
    overlay = _overlay(tmp_path / "namespaced", MANIFESTS / "namespaced", namespace=namespace)
    docs = _render(kube, overlay)
    assert {d["kind"] for d in docs} >= {"Role", "RoleBinding", "ServiceAccount", "Deployment"}
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    env = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "LANDINGGEAR_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in env  # fmt: skip
    for doc in docs:
        if doc["kind"] != "Deployment":  # kwok would run it as a fake pod: no use here
            harness.apply(doc)
    token = kube.kubectl(
        "create", "token", "landinggear-controller", "-n", namespace, "--duration=30m"
    ).stdout.strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    admin["users"] = [{"name": "namespaced", "user": {"token": token}}]
    for context in admin["contexts"]:
        context["context"] = {**context["context"], "user": "namespaced", "namespace": namespace}
    config = tmp_path / "namespaced.kubeconfig"
    config.write_text(yaml.safe_dump(admin))

    harness.create_app(replicas=2)
    controller = harness.start_controller(kubeconfig=config)
    harness.create_rollout(steps=[{"setWeight": 50}, {"pause": {}}])
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = harness.wait_status("first step", currentStepIndex=1, phase="Paused")["canaryRevision"]
    harness.cli("promote", "web")
    harness.wait_status("promoted", phase="Healthy", stableRevision=v2)
    assert v1 != v2
    logs = controller.logs()
    # A 403 as a status, not as digits of a timestamp's microseconds (".118403Z")
    assert not re.search(r"\b403\b", logs), logs[-3000:]
    assert "Forbidden" not in logs, logs[-3000:]
