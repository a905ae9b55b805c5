"""Fixtures shared by the cluster tests: one real Prometheus and one real Unleash
server for the whole session, a DataPlane and 100 rps of traffic per test.

They live here, in the one ``conftest.py`` above every test that uses them: a
fixture imported into test modules is a new fixture per module, so a "session"
Prometheus imported that way started once per module (and the earlier ones
outlived their modules).

Prometheus is Debian's package (``apt-get install -y prometheus``); without it
these tests fail with that command in the message rather than skip quietly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from e2e.dataplane import DataPlane, TrafficGenerator
from e2e.prometheus import Prometheus
from e2e.unleash import UnleashServer
from tests.support.kube import ClusterUnderTest


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


@pytest.fixture
def traffic(dataplane: DataPlane) -> Iterator[TrafficGenerator]:
    """100 requests/s across every revision the data plane serves, split by Ready pods."""
    generator = TrafficGenerator(dataplane.routes, rps=100, seed=3).start()
    yield generator
    generator.stop()
