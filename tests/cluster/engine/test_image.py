"""The built image run as the shipped Deployment's pod would run: the shipped
ServiceAccount's token, its RBAC, a read-only root filesystem, the manifest's args.

A rule missing from ``manifests/controller/rbac.yaml`` shows as a 403 in the
controller's log and a release that never reaches its phase; a write to the root
filesystem as an error in the log (or a dead container) and the same.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient

from e2e.image import build
from tests.support.incluster import (
    MANIFESTS,
    NAMESPACE,
    SERVICE_ACCOUNT,
    PodmanController,
    install_shipped,
    memory_bytes,
    pod_container,
    remove_leftovers,
    run_as_pod,
    service_account_files,
)
from tests.support.kube import ClusterUnderTest
from tests.support.scenario import Harness
from tests.support.waiting import eventually

# A cold cache makes the Debian base and builds the image first (about 2 minutes here).
pytestmark = pytest.mark.timeout(900)

TROUBLE = ("Forbidden", " 403", "Read-only file system", "Reconcile raised", "Traceback")
"""In the controller's log: a missing RBAC rule, a write to the root filesystem, a crash."""


def _say(message: str) -> None:
    print(f"[image] {message}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def controller_image() -> str:
    """The repository's Dockerfile built on the local Debian base (cached)."""
    return build.ensure_image(say=_say)


def pod_container_grace() -> int:
    """The shipped Deployment's terminationGracePeriodSeconds."""
    deployment = yaml.safe_load((MANIFESTS / "controller" / "deployment.yaml").read_text())
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def metrics_port() -> int:
    return _free_port()


@pytest.fixture
def pod(
    harness: Harness,
    kube: ClusterUnderTest,
    controller_image: str,
    metrics_port: int,
    tmp_path: Path,
) -> Iterator[PodmanController]:
    install_shipped(kube)
    remove_leftovers()
    # A Lease left by an earlier run would only delay the first leadership.
    kube.kubectl(
        "delete",
        "lease",
        "landinggear-controller",
        f"--namespace={NAMESPACE}",
        "--ignore-not-found",
    )
    secrets = service_account_files(kube, tmp_path / "serviceaccount")
    controller = run_as_pod(
        image=controller_image, kube=kube, secrets=secrets, metrics_port=metrics_port
    )
    yield controller
    print(f"----- controller container {controller.name} log -----\n{controller.logs()[-6000:]}")
    controller.remove()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as err:  # 503 until it leads: the answer holds a socket
        err.close()
        return False


def trouble(logs: str, *, namespace: str) -> list[str]:
    """Log lines with trouble that concern the test's namespace or the whole controller.

    The controller watches every namespace: an earlier test's namespace being deleted
    answers 403 to a write there, which says nothing about the shipped RBAC."""
    found = []
    for line in logs.splitlines():
        if not any(word in line for word in TROUBLE):
            continue
        try:
            where = json.loads(line).get("namespace")
        except (ValueError, AttributeError):
            where = None
        if where in (None, namespace):
            found.append(line)
    return found


def assert_no_trouble(pod: PodmanController, *, namespace: str) -> None:
    logs = pod.logs()
    found = trouble(logs, namespace=namespace)
    assert not found, "the controller in the image hit trouble:\n" + "\n".join(found[:20])
    assert pod.state() == "running", f"the container is {pod.state()}:\n{logs[-3000:]}"


def test_the_image_runs_as_non_root_on_a_read_only_root_with_no_installer(
    pod: PodmanController, metrics_port: int, harness: Harness
) -> None:
    eventually(lambda: _ready(metrics_port), timeout=60, what="/readyz answering 200")
    assert pod.inspect("{{.Config.User}}") == "65532:65532"
    assert pod.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
    limit = pod_container()["resources"]["limits"]["memory"]
    assert pod.inspect("{{.HostConfig.Memory}}") == str(memory_bytes(limit))  # the pod's limit
    probe = pod.exec(
        "/opt/landinggear/bin/python",
        "-c",
        "import importlib.util, os, sys\n"
        "print(os.getuid(), importlib.util.find_spec('pip'), sys.flags.dont_write_bytecode)\n"
        "for path in ('/landinggear-probe', '/tmp/landinggear-probe'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as err:\n"
        "        print(path, err.strerror)\n",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [
        "65532 None 1",
        "/landinggear-probe Read-only file system",
        "/tmp/landinggear-probe Read-only file system",
    ]
    base = pod.exec(
        "/bin/sh", "-c",
        "python3 -c \"import importlib.util as u; print([n for n in ('pip', 'setuptools', "
        "'wheel') if u.find_spec(n)])\"; command -v pip pip3 || true",
    )  # fmt: skip
    assert base.returncode == 0, base.stderr
    assert base.stdout.splitlines() == ["[]"], "the base's installer is left in the image"
    assert_no_trouble(pod, namespace=harness.namespace)

    # Stopped as the kubelet would stop the pod: SIGTERM reaches it (PID 1), it exits 0.
    started = time.monotonic()
    pod.stop(grace=pod_container_grace())
    assert pod.inspect("{{.State.ExitCode}}") == "0", pod.logs()[-3000:]
    print(f"stopped in {time.monotonic() - started:.1f}s")


def test_a_canary_progresses_is_rolled_back_and_another_aborted_under_the_shipped_rbac(
    harness: Harness, pod: PodmanController, kube: ClusterUnderTest, api: ApiClient
) -> None:
    harness.create_app(replicas=3)
    harness.create_rollout()
    # Leadership first (the Lease in the pod's namespace), then adoption.
    v1 = harness.wait_status("adopted", phase="Healthy", timeout=90)["stableRevision"]

    # Given a new image, the canary walks the steps; promoted, it becomes stable.
    harness.set_image("web:v2")
    v2 = harness.wait_status("first step", currentStepIndex=1, canaryWeight=20, timeout=30)[
        "canaryRevision"
    ]
    harness.wait_status("timed pause over", currentStepIndex=3, canaryWeight=50, timeout=30)
    assert harness.replica_sets() == {v1: (3, 3), v2: (2, 2)}
    harness.cli("promote", "web")
    harness.wait_status("promoted", phase="Healthy", stableRevision=v2, timeout=30)

    # One-click rollback: all of it back on v1, v2 blocked.
    harness.cli("rollback", "web", "--reason", "checkout broken")
    harness.wait_status("rolled back", stableRevision=v1, timeout=30)
    eventually(
        lambda: harness.replica_sets() == {v1: (3, 3), v2: (0, 0)},
        timeout=30,
        what="100 % on v1 again",
    )
    harness.wait_status("v2 blocked", phase="Degraded", blockedRevision=v2, timeout=30)

    # A new template starts a release again; aborted, the canary is scaled away.
    harness.set_image("web:v3")
    v3 = harness.wait_status("v3 canary", currentStepIndex=1, canaryWeight=20, timeout=30)[
        "canaryRevision"
    ]
    harness.cli("abort", "web", "--reason", "errors in the logs")
    status = harness.wait_status("aborted", phase="Degraded", blockedRevision=v3, timeout=30)
    assert "errors in the logs" in status["message"]
    eventually(
        lambda: harness.replica_sets() == {v1: (3, 3), v2: (0, 0), v3: (0, 0)},
        timeout=30,
        what="v3 scaled away",
    )
    assert [h["action"] for h in status["history"]] == [
        "Adopted",
        "ReleaseStarted",
        "Promoted",
        "RolledBack",
        "ReleaseStarted",
        "Aborted",
    ]

    # The controller's own Events were written (events.k8s.io create) …
    listed = kube.kubectl(
        "get", "events.events.k8s.io", f"--namespace={harness.namespace}", "-o", "json"
    ).stdout
    reasons = {
        e.get("reason")
        for e in json.loads(listed)["items"]
        if e.get("reportingController") == "landinggear.dev/controller"
    }
    assert {"Promoted", "RolledBack", "Aborted"} <= reasons, reasons
    # … and nothing it tried was forbidden, nothing it wrote hit the root filesystem.
    assert_no_trouble(pod, namespace=harness.namespace)
    # It led through the Lease in its own namespace, under the pod's name.
    lease = client.CoordinationV1Api(api).read_namespaced_lease(SERVICE_ACCOUNT, NAMESPACE)
    assert lease.spec.holder_identity == pod.name


def test_trouble_elsewhere_is_not_the_shipped_rbacs() -> None:
    logs = "\n".join(
        [
            '{"namespace": "mine", "error": "403 Forbidden: replicasets is forbidden"}',
            '{"namespace": "gone", "error": "403 Forbidden: namespace gone is being terminated"}',
            '{"error": "403 Forbidden: cannot list resource rollouts", "event": "Failed"}',
            "Traceback (most recent call last):",
            '{"namespace": "mine", "event": "Reconciled"}',
        ]
    )
    assert trouble(logs, namespace="mine") == [
        '{"namespace": "mine", "error": "403 Forbidden: replicasets is forbidden"}',
        '{"error": "403 Forbidden: cannot list resource rollouts", "event": "Failed"}',
        "Traceback (most recent call last):",
    ]
