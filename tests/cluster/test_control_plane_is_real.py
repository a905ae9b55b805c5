"""The local control plane behaves like a real cluster: controllers, GC, authn/z, admission."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

LABELS = {"app": "web"}


def _deployment(name: str, replicas: int) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=LABELS),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=LABELS),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=LABELS),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="web",
                            image="nginx",
                            ports=[client.V1ContainerPort(container_port=80)],
                        )
                    ]
                ),
            ),
        ),
    )


def _ready_pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    return [
        pod
        for pod in pods
        if pod.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def test_deployment_pods_become_ready_and_serve_endpoints(
    kube: ClusterUnderTest, namespace: str
) -> None:
    api = kube.api()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("web", 3))
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector=LABELS, ports=[client.V1ServicePort(port=80, target_port=80)]
            ),
        ),
    )

    eventually(lambda: len(_ready_pods(core, namespace)) == 3, timeout=30, what="3 Ready pods")
    eventually(
        lambda: apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 3,
        timeout=30,
        what="Deployment status readyReplicas=3",
    )
    assert {p.spec.node_name for p in _ready_pods(core, namespace)} == {"kwok-node-0"}

    discovery = client.DiscoveryV1Api(api)

    def ready_endpoints() -> int:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web"
        ).items
        return sum(
            1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready
        )

    eventually(lambda: ready_endpoints() == 3, timeout=30, what="3 ready endpoints")


def test_deleting_a_deployment_garbage_collects_its_replicasets_and_pods(
    kube: ClusterUnderTest, namespace: str
) -> None:
    api = kube.api()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("web", 3))
    eventually(lambda: len(_ready_pods(core, namespace)) == 3, timeout=30, what="3 Ready pods")
    assert apps.list_namespaced_replica_set(namespace).items

    apps.delete_namespaced_deployment(
        "web", namespace, body=client.V1DeleteOptions(propagation_policy="Background")
    )

    eventually(
        lambda: (
            not apps.list_namespaced_replica_set(namespace).items
            and not core.list_namespaced_pod(namespace).items
        ),
        timeout=60,
        what="ReplicaSets and Pods garbage-collected",
    )


def test_service_account_without_rbac_is_forbidden(kube: ClusterUnderTest, namespace: str) -> None:
    api = kube.api()
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody"))
    )
    token = core.create_namespaced_service_account_token(
        "nobody",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    ).status.token

    configuration = client.Configuration()
    configuration.host = api.configuration.host
    configuration.ssl_ca_cert = api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    as_nobody = client.CoreV1Api(client.ApiClient(configuration))

    with pytest.raises(ApiException) as denied:
        as_nobody.list_namespaced_pod(namespace)
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in str(denied.value.body)


def test_pod_security_admission_rejects_privileged_pod_in_restricted_namespace(
    kube: ClusterUnderTest, namespace: str
) -> None:
    core = client.CoreV1Api(kube.api())
    core.patch_namespace(
        namespace,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    )
    privileged = client.V1Pod(
        metadata=client.V1ObjectMeta(name="root"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image="busybox",
                    security_context=client.V1SecurityContext(privileged=True),
                )
            ]
        ),
    )
    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_pod(namespace, privileged)
    assert rejected.value.status == 403
    message = json.loads(str(rejected.value.body))["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert 'privileged (container "c" must not set securityContext.privileged=true)' in message


def _widget_crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "min": {"type": "integer"},
                                        "max": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.min <= self.max",
                                            "message": "min must not exceed max",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_crd_cel_validation_rejects_bad_object_with_rule_message(
    kube: ClusterUnderTest, namespace: str
) -> None:
    group = f"{namespace}.test.landinggear.dev"
    crd = _widget_crd(group)
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(crd))
    try:
        kube.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s")
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": namespace},
            "spec": {"min": 5, "max": 1},
        }

        def apply_widget() -> subprocess.CompletedProcess[str] | None:
            proc = kube.kubectl("apply", "-f", "-", stdin=json.dumps(widget), check=False)
            served = "the server could not find the requested resource" not in proc.stderr
            return proc if served else None

        proc = eventually(apply_widget, timeout=30, what="Widget kind served")
        assert proc.returncode != 0
        assert "min must not exceed max" in proc.stderr

        widget["spec"] = {"min": 1, "max": 5}
        kube.kubectl("apply", "-f", "-", stdin=json.dumps(widget))
    finally:
        kube.kubectl("delete", "crd", f"widgets.{group}", "--wait=false")
