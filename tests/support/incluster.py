"""The controller image run by podman the way the kubelet would run the shipped
Deployment's pod: the shipped ServiceAccount's token (TokenRequest API), ``ca.crt``
and ``namespace`` mounted where client libraries look, ``KUBERNETES_SERVICE_*``
pointing at the API server, the container's args, env and securityContext read
from ``manifests/controller/deployment.yaml``.

The one difference is the network: the pod's own there, the host's here (the API
server listens on 127.0.0.1 only), so the metrics address, ``0.0.0.0:8080`` in the
manifest, is moved to a free loopback port by one more flag after the manifest's.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from kubernetes import client

from e2e.image.build import podman
from tests.support.kube import ClusterUnderTest
from tests.support.waiting import eventually

ROOT = Path(__file__).parents[2]
MANIFESTS = ROOT / "manifests"
NAMESPACE = "landinggear-system"
SERVICE_ACCOUNT = "landinggear-controller"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def install_shipped(kube: ClusterUnderTest) -> None:
    """The namespace, RBAC and CRD exactly as shipped."""
    for manifest in (
        "controller/namespace.yaml",
        "controller/account.yaml",
        "controller/rbac.yaml",
        "crds",
    ):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(MANIFESTS / manifest))
    kube.kubectl(
        "wait", "--for=condition=Established", "crd/rollouts.landinggear.dev", "--timeout=60s"
    )


def pod_container() -> dict[str, Any]:
    """The controller container of the shipped Deployment."""
    deployment = yaml.safe_load((MANIFESTS / "controller" / "deployment.yaml").read_text())
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT
    container: dict[str, Any] = spec["containers"][0]
    return container


def service_account_files(kube: ClusterUnderTest, into: Path) -> Path:
    """What the kubelet mounts: a TokenRequest token of the shipped ServiceAccount,
    the cluster's CA as the ``kube-root-ca.crt`` ConfigMap publishes it, the namespace."""
    api = kube.api()
    try:
        core = client.CoreV1Api(api)
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        token = core.create_namespaced_service_account_token(SERVICE_ACCOUNT, NAMESPACE, request)
        root_ca = eventually(
            lambda: core.read_namespaced_config_map("kube-root-ca.crt", NAMESPACE).data,
            timeout=30,
            what=f"kube-root-ca.crt in {NAMESPACE}",
        )
    finally:
        api.close()  # type: ignore[no-untyped-call]
    into.mkdir(mode=0o755)
    files = {
        "token": str(token.status.token),
        "ca.crt": str(root_ca["ca.crt"]),
        "namespace": NAMESPACE,
    }
    for name, text in files.items():
        (into / name).write_text(text)
        (into / name).chmod(0o644)
    return into


def api_server_port(kube: ClusterUnderTest) -> int:
    api = kube.api()
    api.close()  # type: ignore[no-untyped-call]
    server = urlparse(api.configuration.host)
    assert server.hostname == "127.0.0.1", f"the API server is not on loopback: {server}"
    assert server.port is not None
    return int(server.port)


@dataclass
class PodmanController:
    """One controller container started by podman."""

    name: str

    def logs(self) -> str:
        done = subprocess.run(
            podman("logs", self.name), capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout + done.stderr

    def state(self) -> str:
        done = subprocess.run(
            podman("inspect", "--format={{.State.Status}}", self.name),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return done.stdout.strip()

    def inspect(self, template: str) -> str:
        return subprocess.run(
            podman("inspect", f"--format={template}", self.name),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            podman("exec", self.name, *argv),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def stop(self, *, grace: int) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds, as the kubelet stops a pod."""
        subprocess.run(
            podman("stop", f"--time={grace}", self.name),
            capture_output=True,
            check=True,
            timeout=grace + 30,
        )

    def remove(self) -> None:
        """Stop (SIGTERM, SIGKILL after 10 s) and remove it; raise if it is still there."""
        done = subprocess.run(
            podman("rm", "--force", "--time=10", self.name),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if self.name in running_pods():
            raise AssertionError(f"container {self.name} outlived `podman rm`: {done.stderr}")


def running_pods() -> list[str]:
    """Names of the controller containers podman knows, in any state."""
    listed = subprocess.run(
        podman("ps", "--all", "--filter=name=landinggear-controller-", "--format={{.Names}}"),
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return listed.split()


def remove_leftovers() -> None:
    """Remove controller containers an interrupted earlier run left: two would share
    the Lease, and the one under test might never lead."""
    for name in running_pods():
        PodmanController(name).remove()


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity in bytes (the binary suffixes, as the manifest uses)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def run_as_pod(
    *, image: str, kube: ClusterUnderTest, secrets: Path, metrics_port: int
) -> PodmanController:
    """Start ``image`` with the shipped Deployment's container settings."""
    container = pod_container()
    pod_name = f"landinggear-controller-{uuid.uuid4().hex[:5]}"
    env = []
    for var in container.get("env", []):
        if "value" in var:
            env.append(f"--env={var['name']}={var['value']}")
            continue
        field = var["valueFrom"]["fieldRef"]["fieldPath"]
        values = {"metadata.name": pod_name, "metadata.namespace": NAMESPACE}
        assert field in values, f"the test does not know how to fill {field}"
        env.append(f"--env={var['name']}={values[field]}")
    security = container.get("securityContext", {})
    confinement = []
    if security.get("readOnlyRootFilesystem"):
        confinement += ["--read-only", "--read-only-tmpfs=false"]  # no /tmp either
    if security.get("allowPrivilegeEscalation") is False:
        confinement.append("--security-opt=no-new-privileges")
    if "ALL" in security.get("capabilities", {}).get("drop", []):
        confinement.append("--cap-drop=ALL")
    memory = container.get("resources", {}).get("limits", {}).get("memory")
    if memory:
        confinement.append(f"--memory={memory_bytes(memory)}")
    subprocess.run(
        podman(
            "run",
            "--detach",
            f"--name={pod_name}",
            f"--hostname={pod_name}",
            "--network=host",
            "--ulimit=nofile=20000:20000",
            "--ulimit=nproc=4096:4096",
            *confinement,
            f"--volume={secrets}:{MOUNT}:ro",
            "--env=KUBERNETES_SERVICE_HOST=127.0.0.1",
            f"--env=KUBERNETES_SERVICE_PORT={api_server_port(kube)}",
            *env,
            image,
            *container["args"],
            f"--metrics-address=127.0.0.1:{metrics_port}",
        ),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return PodmanController(pod_name)
