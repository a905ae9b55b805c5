"""Suite-wide fixtures and markers.

Tests under ``tests/unit`` are marked ``unit`` (pure, no cluster); tests under
``tests/cluster`` are marked ``cluster`` and get the real local control plane;
tests under ``tests/matrix`` are marked ``matrix`` and get a real Synapse homeserver
on loopback (no cluster). ``pytest -m unit`` runs the fast half alone.

The cluster is session-scoped. If ``KUBECONFIG`` points at a reachable cluster
(for instance one started with ``python -m e2e.localcluster up`` or a kind
cluster) it is reused and left running; otherwise the local control plane is
started for the session and stopped at its end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.localcluster import build, cluster
from e2e.matrix import SynapseServer
from tests.support.kube import ClusterUnderTest, reachable
from tests.support.waiting import eventually

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(HERE).parts
        if parts[0] == "unit":
            item.add_marker(pytest.mark.unit)
        elif parts[0] == "cluster":
            item.add_marker(pytest.mark.cluster)
        elif parts[0] == "matrix":
            item.add_marker(pytest.mark.matrix)


@pytest.fixture(scope="session")
def kube() -> Iterator[ClusterUnderTest]:
    kubectl = build.ensure_binaries().kubectl
    env_config = os.environ.get("KUBECONFIG")
    if env_config and reachable(Path(env_config)):
        yield ClusterUnderTest(kubeconfig=Path(env_config), kubectl_path=kubectl)
        return
    already, healthy = cluster.status()
    state = cluster.up()
    try:
        yield ClusterUnderTest(kubeconfig=Path(state.kubeconfig), kubectl_path=kubectl)
    finally:
        if not (already and healthy):
            cluster.down()


@pytest.fixture
def namespace(kube: ClusterUnderTest) -> Iterator[str]:
    """A fresh namespace, with its default ServiceAccount, deleted after the test."""
    name = f"lg-test-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube.api())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    eventually(
        lambda: core.read_namespaced_service_account("default", name),
        timeout=30,
        what=f"default ServiceAccount in {name}",
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A real Matrix homeserver (Synapse, SQLite) on loopback for the whole session.

    Here rather than in one folder's ``conftest.py`` so that the chat-ops tests under
    ``tests/cluster`` share it too. The first use on a machine installs Synapse into its
    own virtualenv in the cache (about 50 s); after that it starts in 4-14 s.
    """
    started = time.monotonic()
    server = SynapseServer(tmp_path_factory.mktemp("synapse")).start()
    print(f"Synapse ready at {server.url} in {time.monotonic() - started:.2f}s")
    yield server
    server.stop(remove_workdir=True)
