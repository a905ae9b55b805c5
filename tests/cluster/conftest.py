"""Fixtures shared by the cluster tests: one real Prometheus on loopback and one real
Unleash server for the whole session, and a loopback DataPlane per test (the tests of
that data plane and of Prometheus itself; the analysis tests run on the cluster's
real network, see ``tests/cluster/engine/conftest.py``).

They live here, in the one ``conftest.py`` above every test that uses them: a
fixture imported into test modules is a new fixture per module, so a "session"
Prometheus imported that way started once per module (and the earlier ones
outlived their modules).

Prometheus is Debian's package (``apt-get install -y prometheus``); without it
these tests fail with that command in the message rather than skip quietly.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from e2e.dataplane import DataPlane
from e2e.localcluster import cluster
from e2e.prometheus import Prometheus
from e2e.unleash import UnleashServer
from tests.support.kube import ClusterUnderTest
from tests.support.network import local_cluster


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), scrape_interval="1s")
    started = time.monotonic()
    server.start()
    print(f"Prometheus ready at {server.url} in {time.monotonic() - started:.2f}s")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def unleash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnleashServer]:
    """npm's ``unleash-server`` on Debian's PostgreSQL, both on loopback."""
    started = time.monotonic()
    server = UnleashServer(tmp_path_factory.mktemp("unleash")).start()
    print(f"Unleash ready at {server.url} in {time.monotonic() - started:.2f}s")
    yield server
    server.stop(remove_workdir=True)


@pytest.fixture
def api(kube: ClusterUnderTest) -> Iterator[ApiClient]:
    client = kube.api()
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def dataplane(
    api: ApiClient, namespace: str, prometheus: Prometheus, tmp_path: Path
) -> Iterator[DataPlane]:
    plane = DataPlane(
        api=api, namespace=namespace, targets=prometheus, log_dir=tmp_path / "apps", seed=1
    )
    with plane:
        yield plane


@pytest.fixture(scope="module")
def local(kube: ClusterUnderTest) -> cluster.State:
    """The local cluster under test with its network (skips on another cluster)."""
    return local_cluster(kube)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder of the test's own, for Unix sockets (paths of at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="lg-t-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
