"""What the Gateway API router's check says when the CRDs or the route are missing.

Against a loopback stand-in for the API server: the shared test cluster has the
Gateway API CRDs installed, and they cannot be taken away from other tests there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient, Configuration

from controller.api.routing import TrafficRouting
from controller.core.revisions import Revision
from controller.traffic import RouteError, RouteTarget
from controller.traffic.gatewayapi import GatewayAPIRouter
from tests.support.fake_api import FakeApi
from tests.support.routes_gatewayapi import backend, http_route

DISCOVERY = "/apis/gateway.networking.k8s.io/v1"
ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().start()
    yield fake
    fake.stop()


def router(fake: FakeApi) -> GatewayAPIRouter:
    configuration = Configuration()
    configuration.host = fake.url
    return GatewayAPIRouter(ApiClient(configuration))


def target(**gateway: object) -> RouteTarget:
    return RouteTarget(
        namespace="shop",
        rollout="web",
        stable=Revision("aaa"),
        canary=None,
        routing=TrafficRouting.model_validate({"gatewayAPI": gateway}),
        stable_service="web-stable",
        canary_service="web-canary",
    )


def test_an_api_group_not_served_means_the_crds_are_not_installed(api: FakeApi) -> None:
    with pytest.raises(
        RouteError, match=r"does not serve gateway\.networking\.k8s\.io/v1: install"
    ):
        router(api).check(target(httpRoutes=[{"name": "web"}]))


def test_a_served_group_without_the_kind_names_the_missing_crd(api: FakeApi) -> None:
    api.answer("GET", DISCOVERY, 200, {"resources": [{"name": "httproutes"}]})
    with pytest.raises(RouteError, match="not grpcroutes: install the GRPCRoute CRD"):
        router(api).check(target(grpcRoutes=[{"name": "web"}]))


def test_a_missing_route_is_not_a_missing_crd(api: FakeApi) -> None:
    api.answer("GET", DISCOVERY, 200, {"resources": [{"name": "httproutes"}]})
    with pytest.raises(RouteError, match="HTTPRoute shop/web does not exist: create it"):
        router(api).check(target(httpRoutes=[{"name": "web"}]))


def test_a_usable_route_passes_and_nothing_is_written(api: FakeApi) -> None:
    api.answer("GET", DISCOVERY, 200, {"resources": [{"name": "httproutes"}]})
    rules = [{"name": "main", "backendRefs": [backend("web-stable"), backend("web-canary")]}]
    api.answer("GET", f"{ROUTES}/web", 200, http_route("web", rules, namespace="shop"))
    router(api).check(target(httpRoutes=[{"name": "web", "rule": "main"}]))
    assert {method for method, _, _ in api.requests} == {"GET"}
