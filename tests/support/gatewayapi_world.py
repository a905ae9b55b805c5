"""The Gateway API world of the router's cluster tests: the user's HTTPRoute and
GRPCRoute, the stable and canary Services, a routed Rollout, and readers of the routes.

API-level: the upstream Gateway API CRDs are installed, no Gateway implementation
runs; the tests read what the route objects say.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from e2e.localcluster import crds
from tests.support.routes_gatewayapi import GROUP, VERSION, weights_of
from tests.support.scenario import Harness
from tests.support.waiting import eventually

STABLE, CANARY = "web-stable", "web-canary"
BETA: dict[str, Any] = {
    "name": "beta",
    "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}],
}


def ref(name: str, port: int = 80, weight: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "port": port}
    if weight is not None:
        entry["weight"] = weight
    return entry


HTTP_ROUTE: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "labels": {"team": "shop"}},
    "spec": {
        "parentRefs": [{"name": "public"}],
        "hostnames": ["shop.example"],
        "rules": [
            {
                "name": "checkout",
                "matches": [{"path": {"type": "PathPrefix", "value": "/checkout"}}],
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {"add": [{"name": "x-from", "value": "gw"}]},
                    }
                ],
                "backendRefs": [ref(STABLE, weight=100), ref(CANARY, weight=0)],
            },
            {
                "name": "static",
                "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                "backendRefs": [ref("web")],
            },
            # Names both Services, but the Rollout names rule checkout only: untouched.
            {"backendRefs": [ref(STABLE, weight=3), ref(CANARY, weight=1)]},
        ],
    },
}

GRPC_ROUTE: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "GRPCRoute",
    "metadata": {"name": "web-grpc"},
    "spec": {
        "parentRefs": [{"name": "public"}],
        "rules": [
            {
                "matches": [{"method": {"service": "shop.Cart"}}],
                "backendRefs": [ref(STABLE, 9090, 100), ref(CANARY, 9090, 0)],
            }
        ],
    },
}

ROUTING: dict[str, Any] = {
    "stableService": STABLE,
    "canaryService": CANARY,
    "trafficRouting": {
        "gatewayAPI": {
            "httpRoutes": [{"name": "web", "rule": "checkout"}],
            "grpcRoutes": [{"name": "web-grpc"}],
        }
    },
}


def install_gateway(harness: Harness, *, network: bool = False) -> client.CustomObjectsApi:
    """The Gateway API CRDs, the app, its stable and canary Services and both routes.
    ``network``: the app's pods serve on the cluster's network (``create_app``)."""
    kube = harness.kube
    crds.install(kubectl=kube.kubectl_path, kubeconfig=kube.kubeconfig, names=("gateway-api",))
    harness.create_app(replicas=2, network=network)
    for name in (STABLE, CANARY):
        harness.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 8080},
                        {"name": "grpc", "port": 9090, "targetPort": 9090},
                    ],
                },
            }
        )
    harness.apply(HTTP_ROUTE)
    harness.apply(GRPC_ROUTE)
    return client.CustomObjectsApi(kube.api())


def route(
    custom: client.CustomObjectsApi, harness: Harness, kind: str = "httproutes", name: str = "web"
) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(  # type: ignore[assignment]
        GROUP, VERSION, harness.namespace, kind, name
    )
    return obj


def checkout_weights(obj: dict[str, Any]) -> tuple[int, int]:
    refs = dict(weights_of(obj)["checkout"])
    return refs[STABLE], refs[CANARY]


def start_release(harness: Harness, steps: list[dict[str, Any]]) -> tuple[str, str]:
    """Adopt the app under a routed Rollout, then roll out web:v2; (stable, canary)."""
    controller = harness.start_controller()
    del controller
    harness.create_rollout(steps=steps, canary=ROUTING)
    v1 = harness.wait_status("adopted", phase="Healthy")["stableRevision"]
    harness.set_image("web:v2")
    v2 = eventually(
        lambda: harness.status().get("canaryRevision"), timeout=60, what="release started"
    )
    return v1, v2
