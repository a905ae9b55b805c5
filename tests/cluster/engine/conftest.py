"""Engine scenarios: a real controller process against the real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from e2e.dataplane.netload.service import ServiceTraffic
from e2e.localcluster import crds
from e2e.prometheus.api import Endpoint
from tests.support import network
from tests.support.accounts import leader_election_grant, shipped_controller_kubeconfig
from tests.support.gatewayapi_world import install_gateway
from tests.support.kube import ClusterUnderTest
from tests.support.routes_istio import IstioWorld, install_istio
from tests.support.scenario import CRD, Harness


@pytest.fixture(scope="session")
def rollout_crd(kube: ClusterUnderTest) -> None:
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube.kubectl(
        "wait", "--for=condition=Established", "crd/rollouts.landinggear.dev", "--timeout=60s"
    )


@pytest.fixture(scope="session")
def controller_kubeconfig(kube: ClusterUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped controller ServiceAccount's kubeconfig: scenarios run the controller
    with exactly the shipped RBAC."""
    path = tmp_path_factory.mktemp("accounts") / "controller.kubeconfig"
    return shipped_controller_kubeconfig(kube, path)


@pytest.fixture
def harness(
    kube: ClusterUnderTest,
    namespace: str,
    rollout_crd: None,
    controller_kubeconfig: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Harness]:
    world = Harness(
        kube=kube,
        namespace=namespace,
        log_dir=tmp_path,
        controller_kubeconfig=controller_kubeconfig,
    )
    for obj in leader_election_grant(namespace):
        world.apply(obj)
    yield world
    world.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for controller in world.controllers:
            print(f"----- controller {controller.identity} log -----\n{controller.logs()[-6000:]}")
    # Let the namespace go: Rollouts carry a finalizer no controller will now remove.
    names = kube.kubectl(
        "get", "rollouts.landinggear.dev", f"--namespace={namespace}", "-o", "name", check=False
    ).stdout.split()
    for name in names:
        kube.kubectl(
            "patch",
            name,
            f"--namespace={namespace}",
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )


@pytest.fixture
def cluster_prometheus(kube: ClusterUnderTest) -> Endpoint:
    """The local cluster's Prometheus: it scrapes the pods of ``create_app(network=True)``
    (``revision`` label: the pod's revision), read on a host loopback port."""
    return network.cluster_prometheus(kube)


@pytest.fixture
def web_traffic(harness: Harness) -> Iterator[ServiceTraffic]:
    """100 requests/s to the ``web`` Service's ClusterIP from inside the cluster's
    network namespace: kube-proxy spreads them over the Ready pods' apps."""
    with network.service_traffic(harness, service="web", rps=100) as load:
        yield load


@pytest.fixture
def flags(harness: Harness) -> client.CustomObjectsApi:
    """The OpenFeature Operator's CRD installed (from its Go module); a client for it."""
    kube = harness.kube
    crds.install(kubectl=kube.kubectl_path, kubeconfig=kube.kubeconfig, names=("openfeature",))
    return client.CustomObjectsApi(kube.api())


@pytest.fixture
def gateway(harness: Harness) -> client.CustomObjectsApi:
    """The Gateway API CRDs, the app, its stable and canary Services and both routes."""
    return install_gateway(harness)


@pytest.fixture
def istio(harness: Harness) -> IstioWorld:
    """Istio's CRDs installed; the app (2 pods) and its stable and canary Services."""
    return install_istio(harness)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
